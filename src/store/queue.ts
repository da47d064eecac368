import type { SerializedError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId, TaskId } from '../core/ids.js'
import type { ModelSpend } from '../core/model-spend.js'
import type { RunState } from '../core/states.js'

/**
 * What an executor can run: an agent by name (any version, or a version
 * range / exact version), or a capability. A claim takes only attempts whose
 * selector one of the claimer's selectors satisfies.
 */
export interface QueueSelector {
  /** Agent name. */
  readonly agent?: string
  /** The agent versions this worker has (exact versions); an offer with a version range matches when one of them satisfies it. */
  readonly versions?: readonly string[]
  /** A capability this worker offers. */
  readonly capability?: string
}

/** One ready attempt offered to the queue by a run's coordinator. */
export interface QueueOffer {
  readonly runId: RunId
  readonly taskId: TaskId
  /** The attempt the claim will start (the task's stored attempt + 1). */
  readonly attempt: number
  /** The agent the task names (`undefined` when it asks for a capability). */
  readonly agent: string | undefined
  /** A version or version range of {@link QueueOffer.agent}, if the task pins one. */
  readonly version: string | undefined
  /** The capability the task asks for (when it names no agent). */
  readonly capability: string | undefined
  /** 0 = CRITICAL … 3 = LOW: lower is claimed first. */
  readonly priority: number
  /** Critical-path rank: higher is claimed first among equal priorities. */
  readonly rank: number
  /** Wall-clock ms before which the attempt is not claimed (retry backoff). */
  readonly notBefore: number
}

/** An attempt an executor holds under a lease. */
export interface QueueClaim extends QueueOffer {
  readonly worker: string
  /** Wall-clock ms at which the lease ends unless renewed by a heartbeat. */
  readonly leaseUntil: number
  /** `runId:taskId`, stable across attempts. */
  readonly idempotencyKey: string
}

/**
 * The result an executor stores for its claim. `model`: the task's model
 * spend with this attempt's calls (`taskSpendAfter`), stored on the task
 * record with the result; left out, the stored one is kept.
 */
export type QueueResult =
  | { readonly ok: true; readonly output: unknown; readonly model?: ModelSpend }
  | { readonly ok: false; readonly error: SerializedError; readonly model?: ModelSpend }

/**
 * Whether an offer matches one of the selectors: the agent by name (and, when
 * the offer pins a version, one of the selector's versions equals it), or the
 * capability. Returns the `name@version` (or capability) label the claim
 * stores as the task's agent, or `undefined`.
 */
export function matchOffer(
  offer: Pick<QueueOffer, 'agent' | 'version' | 'capability'>,
  selectors: readonly QueueSelector[],
): string | undefined {
  for (const s of selectors) {
    if (offer.agent !== undefined && s.agent === offer.agent) {
      if (offer.version === undefined)
        return s.versions !== undefined && s.versions.length > 0 ? `${s.agent}@${s.versions[0]}` : s.agent
      if (s.versions === undefined || s.versions.includes(offer.version)) return `${s.agent}@${offer.version}`
    }
    if (offer.agent === undefined && offer.capability !== undefined && s.capability === offer.capability)
      return s.agent !== undefined ? s.agent : `capability:${s.capability}`
  }
  return undefined
}

/**
 * Ready attempts waiting for one selector of {@link TaskQueue.waiting}: the
 * demand a worker's auto-scaling reads from the shared queue.
 */
export interface QueueWaiting {
  /** Claimable attempts the selector matches: offered and due (or whose holder's lease ran out), of RUNNING runs. */
  readonly count: number
  /** Age in ms of the oldest of them, by the queue's clock: since it was offered or came due (a retry's backoff, a lapsed lease), whichever is later; 0 when none waits. */
  readonly oldestMs: number
}

/** Claimable attempts grouped by what they ask for, as an adapter reads them for {@link foldWaiting}. */
export interface WaitingGroup {
  readonly agent: string | undefined
  readonly version: string | undefined
  readonly capability: string | undefined
  readonly count: number
  /** Wall-clock ms since which the oldest of the group can be claimed. */
  readonly since: number
}

/**
 * Folds grouped claimable attempts into one {@link QueueWaiting} per
 * selector (in order): a group counts for every selector that
 * {@link matchOffer} matches it with on its own.
 */
export function foldWaiting(
  groups: readonly WaitingGroup[],
  selectors: readonly QueueSelector[],
  now: number,
): QueueWaiting[] {
  return selectors.map((s) => {
    let count = 0
    let since = Infinity
    for (const g of groups) {
      if (g.count <= 0 || matchOffer(g, [s]) === undefined) continue
      count += g.count
      since = Math.min(since, g.since)
    }
    return { count, oldestMs: count === 0 ? 0 : Math.max(0, now - since) }
  })
}

/** A stored result waiting for its run's coordinator. */
export interface QueueDone {
  readonly runId: RunId
  readonly taskId: TaskId
  readonly attempt: number
  readonly ok: boolean
}

/** What a heartbeat learned about the claims it renewed. */
export interface HeartbeatReport {
  /** Claims this worker no longer holds (its lease ran out and another worker took the attempt, or the run is gone): abort them. */
  readonly lost: readonly { runId: RunId; taskId: TaskId; attempt: number }[]
  /** Claims of runs that are now CANCELLED or final: abort them. */
  readonly cancelled: readonly { runId: RunId; taskId: TaskId; attempt: number }[]
}

/** A run a coordinator holds, with its stored state. */
export interface RunLease {
  readonly runId: RunId
  readonly state: RunState
}

/**
 * What a worker's instances of one agent version did since the worker
 * started, as its latest heartbeat said (the server aggregates these for
 * `GET /api/v1/agents/{name}/metrics` and `/health`).
 */
export interface WorkerAgentStats {
  /** Instances of this version in the worker. */
  readonly instances: number
  /** Of them, those READY to take work (not failed, stopped or starting). */
  readonly ready: number
  readonly calls: number
  readonly errors: number
  /** Mean latency over every call, in ms; 0 without calls. */
  readonly meanLatencyMs: number
  /** The highest instance p95 over its last 1024 calls, in ms: an upper bound; 0 without calls. */
  readonly p95LatencyMs: number
  /** The worst circuit breaker among the instances. */
  readonly circuit: 'CLOSED' | 'HALF_OPEN' | 'OPEN'
}

/** A worker as the stored catalog shows it. */
export interface WorkerRecord {
  readonly id: string
  /** Agent names with their versions, and capabilities, it can run; `stats` from workers that report them. */
  readonly agents: readonly {
    name: string
    version: string
    capabilities: readonly string[]
    stats?: WorkerAgentStats
  }[]
  /** The agent templates it can spawn from (`AgentTemplateInfo`), for the listings; absent from older workers. */
  readonly templates?: readonly {
    name: string
    version: string
    description?: string
    model: string
    tools: readonly string[]
    permissions: readonly { resource: string; actions: readonly string[] }[]
    generic: boolean
  }[]
  /** Host name and process id, for people. */
  readonly host: string
  readonly pid: number
  /** Most attempts it runs at once. */
  readonly concurrency: number
  readonly startedAt: number
  /** Wall-clock ms of its latest heartbeat. */
  readonly heartbeatAt: number
}

/**
 * The task queue: the line where a run's coordinator hands ready attempts to
 * executors, possibly in other processes. Adapters: `memory` (one process),
 * `sqlite` (several processes on one file) and `postgres` (many hosts; `FOR
 * UPDATE SKIP LOCKED`). Every write is fenced: a result is stored only by the
 * worker that holds the attempt's lease, for that attempt, and never for a
 * cancelled run; an attempt whose lease ran out is claimed again with
 * attempt + 1 and the same idempotency key.
 */
export interface TaskQueue {
  /** Adapter name. */
  readonly kind: string
  /**
   * Offers ready attempts. Idempotent per task: a task that already has an
   * entry keeps it (the offer is ignored). Marks the tasks READY.
   */
  offer(offers: readonly QueueOffer[]): Promise<void>
  /**
   * Claims up to `max` attempts the selectors match, of RUNNING runs, whose
   * not-before time has come (or whose holder's lease ran out: then with
   * attempt + 1), best priority first, then highest rank, then oldest. Each
   * claimed task is stored RUNNING with its attempt and a `task.started` event.
   */
  claim(worker: string, selectors: readonly QueueSelector[], max: number, leaseMs: number): Promise<QueueClaim[]>
  /** Extends the leases of the claims `worker` still holds; reports those it lost and those whose run was cancelled. */
  heartbeat(
    worker: string,
    claims: readonly { runId: RunId; taskId: TaskId; attempt: number }[],
    leaseMs: number,
  ): Promise<HeartbeatReport>
  /**
   * Stores the result of a claimed attempt, fenced by attempt and lease:
   * `STORE_CONFLICT` (`details.reason`: `lease-lost`, `run-cancelled`) when
   * `worker` no longer holds it or the run was cancelled. A success stores the
   * output (task SUCCEEDED); a failure stores the error (task RETRYING, for the
   * coordinator to retry or fail). The entry waits for the coordinator
   * ({@link TaskQueue.takeResults}). `events` (the attempt's `task.started`,
   * `task.succeeded`, logs…) are appended in the same transaction.
   */
  complete(
    worker: string,
    claim: { runId: RunId; taskId: TaskId; attempt: number },
    result: QueueResult,
    events?: readonly RunEvent[],
  ): Promise<void>
  /** Gives claims back unrun (graceful shutdown): they are READY again with the same attempt. */
  release(worker: string, claims: readonly { runId: RunId; taskId: TaskId; attempt: number }[]): Promise<void>
  /** Stored results of runs `coordinator` holds, oldest first, removed from the queue as they are returned. */
  takeResults(coordinator: string, max: number): Promise<QueueDone[]>
  /** Drops every entry of a run (it ended). */
  dropRun(runId: RunId): Promise<void>

  /**
   * Takes the lease of up to `max` unfinished runs nobody holds (never held,
   * or their holder's lease ran out), oldest first; with `only`, just those
   * of the listed runs.
   */
  claimRuns(coordinator: string, max: number, leaseMs: number, only?: readonly RunId[]): Promise<RunLease[]>
  /** Renews the leases of runs `coordinator` holds; returns each with its stored state, and leaves out those it lost. */
  renewRuns(coordinator: string, runIds: readonly RunId[], leaseMs: number): Promise<RunLease[]>
  /** Lets go of runs (graceful shutdown): any worker may claim them at once. */
  releaseRuns(coordinator: string, runIds: readonly RunId[]): Promise<void>
  /**
   * How many claimable attempts each selector matches now (and how long the
   * oldest has waited), one entry per selector in order; what a worker's
   * auto-scaling reads. A read, never a claim: cheap enough to call every
   * second (one grouped query over the ready entries).
   */
  waiting(selectors: readonly QueueSelector[]): Promise<QueueWaiting[]>

  /** Wakes every worker waiting on this queue (a new run was stored, a paused run resumed). */
  notify(): Promise<void>
  /** Who holds a run's lease, and until when (`undefined` holder: nobody). */
  runHolder(runId: RunId): Promise<{ holder: string | undefined; leaseUntil: number }>

  /** Adds or refreshes a worker in the catalog (its heartbeat). */
  advertise(worker: WorkerRecord): Promise<void>
  /** Removes a worker from the catalog. */
  retire(workerId: string): Promise<void>
  /** Workers whose heartbeat is newer than `since` (wall-clock ms). */
  listWorkers(since: number): Promise<WorkerRecord[]>
  /**
   * The store's own wall clock (ms since the epoch), for a worker to check
   * that its clock agrees with the one its leases are compared against; or
   * `undefined` when the store has none apart from this host's (memory,
   * SQLite: every process shares the host's clock).
   */
  storeTime(): Promise<number | undefined>

  /**
   * Resolves when something may have been offered, completed or released
   * (PostgreSQL: a notification; other adapters: their own signal), or after
   * `ms` (the safety poll). Never rejects.
   */
  wait(ms: number, signal?: AbortSignal): Promise<void>
}
