import { WORKER_BODY } from '../rows.js'
import type { CommitHooks } from '../commit-hooks.js'
import type { ClientConfig } from 'pg'
import type { Clock } from '../../core/clock.js'
import { FlotillaError } from '../../core/errors.js'
import type { RunEvent } from '../../core/events.js'
import { asRunId, asTaskId, type RunId, type TaskId } from '../../core/ids.js'
import type { RunState } from '../../core/states.js'
import { checkClaim } from '../fence.js'
import { LocalSignal } from '../local-signal.js'
import {
  foldWaiting,
  type HeartbeatReport,
  type QueueClaim,
  type QueueDone,
  type QueueOffer,
  type QueueResult,
  type QueueSelector,
  type QueueWaiting,
  type RunLease,
  type TaskQueue,
  type WorkerRecord,
} from '../queue.js'
import { GroupComplete, groupCompleteStatement } from './group-complete.js'
import { QueueListener } from './queue-listener.js'
import { queueChannel, queueStatements, type QueueStatements } from './queue-sql.js'

type Key = { runId: RunId; taskId: TaskId; attempt: number }

/** Runs one named (prepared) statement on a pooled connection, errors mapped to the port's codes. */
export type QueueQuery = <R>(name: string, text: string, values: unknown[]) => Promise<R[]>

/** What a {@link PostgresQueue} needs from its store. */
export interface PostgresQueueHost {
  /** The quoted schema name. */
  readonly schema: string
  /** The unquoted schema name (for the NOTIFY channel). */
  readonly schemaName: string
  /** Runs a statement on the store's pool (fails with `STORE_UNAVAILABLE` once the store is closed). */
  readonly query: QueueQuery
  /** How to open the dedicated LISTEN connection (the pool's settings). */
  readonly listenConfig: ClientConfig
  /** Who watches the group commits of results. */
  readonly commits?: CommitHooks
}

interface ClaimRow {
  run_id: string | null
  task_id: string
  attempt: number
  agent: string | null
  version: string | null
  capability: string | null
  priority: number
  rank: number
  not_before: number
  stale: number
}

const UNFINISHED = new Set<string>(['PENDING', 'RUNNING', 'PAUSED'])

/**
 * The PostgreSQL {@link TaskQueue}: many workers on many hosts share one
 * database. Every operation is one statement, so one round trip and one
 * transaction: a claim walks the ready entries of RUNNING runs in claim order
 * and locks them `FOR UPDATE SKIP LOCKED` (concurrent claimers pass over
 * each other's rows instead of waiting), matches the selectors exactly as
 * `matchOffer` does, and starts the tasks, in one batch of up to `max`.
 * Results are fenced by worker, attempt and run state under the entry's row
 * lock, and their events are appended by `flotilla_commit` in the same
 * transaction; results finished while one is being written are written
 * together by the next statement (group commit). {@link PostgresQueue.wait} wakes on a LISTEN/NOTIFY
 * notification (sent by offer, complete, release and releaseRuns at commit,
 * from any process), with its timeout as the safety poll. Get it from
 * `PostgresStore.queue()`.
 */
export class PostgresQueue implements TaskQueue {
  readonly kind = 'postgres'
  /** The NOTIFY channel of this schema's queue. */
  readonly channel: string
  private readonly sql: QueueStatements
  private readonly signal = new LocalSignal()
  private readonly listener: QueueListener
  private readonly query: QueueQuery
  private readonly group: GroupComplete

  constructor(
    host: PostgresQueueHost,
    private readonly clock: Clock,
  ) {
    this.sql = queueStatements(host.schema)
    this.channel = queueChannel(host.schemaName)
    this.query = host.query
    this.listener = new QueueListener(host.listenConfig, this.channel, () => this.signal.notify())
    this.group = new GroupComplete(
      host.query,
      groupCompleteStatement(host.schema),
      this.channel,
      () => this.wakeLocally(),
      host.commits,
    )
  }

  async offer(offers: readonly QueueOffer[]): Promise<void> {
    if (offers.length === 0) return
    const n = offers.length
    const cols = {
      r: new Array<string>(n),
      t: new Array<string>(n),
      a: new Array<number>(n),
      ag: new Array<string | null>(n),
      v: new Array<string | null>(n),
    }
    const more = {
      cap: new Array<string | null>(n),
      pr: new Array<number>(n),
      rk: new Array<number>(n),
      nb: new Array<number>(n),
    }
    for (let i = 0; i < n; i++) {
      const o = offers[i]
      cols.r[i] = o.runId
      cols.t[i] = o.taskId
      cols.a[i] = o.attempt
      cols.ag[i] = o.agent ?? null
      cols.v[i] = o.version ?? null
      more.cap[i] = o.capability ?? null
      more.pr[i] = o.priority
      more.rk[i] = o.rank
      more.nb[i] = o.notBefore
    }
    const [row] = await this.query<{ missing_run: string | null; missing_task: string | null }>(
      'flotilla_q_offer',
      this.sql.offer,
      [
        cols.r,
        cols.t,
        cols.a,
        cols.ag,
        cols.v,
        more.cap,
        more.pr,
        more.rk,
        more.nb,
        this.clock.wallNow(),
        this.channel,
      ],
    )
    if (row.missing_run !== null) {
      throw new FlotillaError(
        'RUN_NOT_FOUND',
        `No run "${row.missing_run}" with task "${row.missing_task}" in the store; nothing was offered.`,
        {
          details: { runId: row.missing_run, taskId: row.missing_task },
        },
      )
    }
    this.wakeLocally()
  }

  async claim(
    worker: string,
    selectors: readonly QueueSelector[],
    max: number,
    leaseMs: number,
  ): Promise<QueueClaim[]> {
    checkClaim(worker, max, leaseMs)
    if (selectors.length === 0) return []
    const sel = JSON.stringify(
      selectors.map((s) => ({
        agent: s.agent ?? null,
        versions: s.versions ?? null,
        capability: s.capability ?? null,
      })),
    )
    const out: QueueClaim[] = []
    for (;;) {
      const now = this.clock.wallNow()
      const leaseUntil = now + leaseMs
      const rows = await this.query<ClaimRow>('flotilla_q_claim', this.sql.claim, [
        sel,
        now,
        max - out.length,
        worker,
        leaseUntil,
      ])
      for (const r of rows) {
        if (r.run_id === null) continue
        out.push({
          runId: asRunId(r.run_id),
          taskId: asTaskId(r.task_id),
          attempt: r.attempt,
          agent: r.agent ?? undefined,
          version: r.version ?? undefined,
          capability: r.capability ?? undefined,
          priority: r.priority,
          rank: r.rank,
          notBefore: r.not_before,
          worker,
          leaseUntil,
          idempotencyKey: `${r.run_id}:${r.task_id}`,
        })
      }
      // Entries of tasks already final were dropped in place of claims: look again for the rest.
      if (rows[0].stale === 0 || out.length >= max) return out
    }
  }

  async heartbeat(worker: string, claims: readonly Key[], leaseMs: number): Promise<HeartbeatReport> {
    if (claims.length === 0) return { lost: [], cancelled: [] }
    const [r, t, a] = columns(claims)
    const rows = await this.query<{ run_state: RunState | null; renewed: boolean }>(
      'flotilla_q_heartbeat',
      this.sql.heartbeat,
      [r, t, a, worker, this.clock.wallNow() + leaseMs],
    )
    const lost: Key[] = []
    const cancelled: Key[] = []
    rows.forEach((row, i) => {
      if (row.run_state === null || !UNFINISHED.has(row.run_state)) cancelled.push(claims[i])
      else if (!row.renewed) lost.push(claims[i])
    })
    return { lost, cancelled }
  }

  complete(worker: string, c: Key, result: QueueResult, events: readonly RunEvent[] = []): Promise<void> {
    return this.group.complete(worker, c, result, events, this.clock.wallNow())
  }

  async release(worker: string, claims: readonly Key[]): Promise<void> {
    if (claims.length === 0) return
    const [r, t, a] = columns(claims)
    const [row] = await this.query<{ n: number }>('flotilla_q_release', this.sql.release, [
      r,
      t,
      a,
      worker,
      this.channel,
    ])
    if (row.n > 0) this.wakeLocally()
  }

  async takeResults(coordinator: string, max: number): Promise<QueueDone[]> {
    if (!(max >= 1)) return []
    const rows = await this.query<{ run_id: string; task_id: string; attempt: number; ok: boolean }>(
      'flotilla_q_take',
      this.sql.take,
      [coordinator, Math.min(Math.floor(max), MAX_INT)],
    )
    return rows.map((r) => ({ runId: asRunId(r.run_id), taskId: asTaskId(r.task_id), attempt: r.attempt, ok: r.ok }))
  }

  async dropRun(runId: RunId): Promise<void> {
    await this.query('flotilla_q_drop', this.sql.drop, [runId])
  }

  async claimRuns(coordinator: string, max: number, leaseMs: number, only?: readonly RunId[]): Promise<RunLease[]> {
    if (only !== undefined && only.length === 0) return []
    checkClaim(coordinator, max, leaseMs)
    const now = this.clock.wallNow()
    const rows = await this.query<{ id: string; state: RunState }>('flotilla_q_claim_runs', this.sql.claimRuns, [
      coordinator,
      now,
      Math.min(max, MAX_INT),
      now + leaseMs,
      only === undefined ? null : [...only],
    ])
    return rows.map((r) => ({ runId: asRunId(r.id), state: r.state }))
  }

  async notify(): Promise<void> {
    await this.query('flotilla_q_notify', this.sql.notify, [this.channel])
  }

  async renewRuns(coordinator: string, runIds: readonly RunId[], leaseMs: number): Promise<RunLease[]> {
    if (runIds.length === 0) return []
    const rows = await this.query<{ id: string; state: RunState }>('flotilla_q_renew_runs', this.sql.renewRuns, [
      [...runIds],
      coordinator,
      this.clock.wallNow() + leaseMs,
    ])
    const states = new Map(rows.map((r) => [r.id, r.state]))
    const out: RunLease[] = []
    for (const id of runIds) {
      const state = states.get(id)
      if (state !== undefined) out.push({ runId: id, state })
    }
    return out
  }

  async releaseRuns(coordinator: string, runIds: readonly RunId[]): Promise<void> {
    if (runIds.length === 0) return
    const [row] = await this.query<{ n: number }>('flotilla_q_release_runs', this.sql.releaseRuns, [
      [...runIds],
      coordinator,
      this.channel,
    ])
    if (row.n > 0) this.wakeLocally()
  }

  async runHolder(runId: RunId): Promise<{ holder: string | undefined; leaseUntil: number }> {
    const rows = await this.query<{ holder: string | null; lease_until: number }>(
      'flotilla_q_holder',
      this.sql.holder,
      [runId],
    )
    if (rows.length === 0)
      throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
    return { holder: rows[0].holder ?? undefined, leaseUntil: rows[0].lease_until }
  }

  async advertise(worker: WorkerRecord): Promise<void> {
    await this.query('flotilla_q_advertise', this.sql.advertise, [
      worker.id,
      JSON.stringify(worker),
      worker.heartbeatAt,
    ])
  }

  async retire(workerId: string): Promise<void> {
    await this.query('flotilla_q_retire', this.sql.retire, [workerId])
  }

  async listWorkers(since: number): Promise<WorkerRecord[]> {
    const rows = await this.query<{ body: string }>('flotilla_q_list_workers', this.sql.listWorkers, [since])
    return rows.map((r) => WORKER_BODY.decodeRequired(r.body))
  }

  async storeTime(): Promise<number | undefined> {
    const [row] = await this.query<{ now: number }>('flotilla_q_store_time', this.sql.storeTime, [])
    return row.now
  }

  async waiting(selectors: readonly QueueSelector[]): Promise<QueueWaiting[]> {
    if (selectors.length === 0) return []
    const now = this.clock.wallNow()
    const rows = await this.query<{
      agent: string | null
      version: string | null
      capability: string | null
      n: number
      since: number
    }>('flotilla_q_waiting', this.sql.waiting, [
      now,
      selectors.flatMap((s) => (s.agent === undefined ? [] : [s.agent])),
      selectors.flatMap((s) => (s.capability === undefined ? [] : [s.capability])),
    ])
    const groups = rows.map((r) => ({
      agent: r.agent ?? undefined,
      version: r.version ?? undefined,
      capability: r.capability ?? undefined,
      count: r.n,
      since: r.since,
    }))
    return foldWaiting(groups, selectors, now)
  }

  /**
   * Resolves on the next notification of this schema's queue (from any
   * process), after `ms`, or when `signal` aborts. The first call opens the
   * LISTEN connection; while it is down, the timeout is the safety poll.
   */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    this.listener.start()
    return this.signal.wait(ms, signal)
  }

  /** Closes the LISTEN connection and wakes the waiters (the store is closing). */
  async close(): Promise<void> {
    await this.listener.close()
    this.signal.notify()
  }

  /** Our own change wakes this process's waiters at once when the LISTEN connection is not there to tell them. */
  private wakeLocally(): void {
    if (!this.listener.listening) this.signal.notify()
  }
}

const MAX_INT = 2_147_483_647

function columns(claims: readonly Key[]): [string[], string[], number[]] {
  return [claims.map((c) => c.runId), claims.map((c) => c.taskId), claims.map((c) => c.attempt)]
}
