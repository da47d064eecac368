import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type { AgentState } from '../core/states.js'
import type { Clock } from '../core/clock.js'
import type { CommitHooks } from './commit-hooks.js'
import type { TaskQueue } from './queue.js'
import type {
  AgentFilter,
  AgentRecord,
  AgentTransition,
  RunFilter,
  RunRecord,
  StoreBatch,
  StoredEvent,
  TailOptions,
  TailPage,
  TaskRecord,
} from './records.js'

/** Reads and writes of runs and their tasks. */
export interface RunStore {
  /**
   * Applies a batch atomically: all writes and events, or none. Task writes
   * are fenced by attempt; a run created twice, a write to an unknown run or
   * task, or a stale attempt fails with `STORE_CONFLICT` / `RUN_NOT_FOUND`
   * and leaves the store unchanged.
   */
  commit(batch: StoreBatch): Promise<void>
  /**
   * The same as {@link RunStore.commit}, done before returning. Adapters whose
   * writes are synchronous (memory; SQLite through better-sqlite3) provide it
   * so the engine saves a promise round trip per batch; it throws as
   * `commit` rejects.
   */
  commitSync?(batch: StoreBatch): void
  /** A run, or `undefined`. */
  getRun(runId: RunId): Promise<RunRecord | undefined>
  /** Runs, newest first. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]>
  /** Every task of a run, in workflow order; `RUN_NOT_FOUND` for an unknown run. */
  getTasks(runId: RunId): Promise<TaskRecord[]>
  /** One task, or `undefined`. */
  getTask(runId: RunId, taskId: TaskId): Promise<TaskRecord | undefined>
  /**
   * Deletes the runs in a final state (SUCCEEDED, FAILED, CANCELLED) that
   * finished before `finishedBefore` (wall-clock ms), with their tasks and
   * events, in one transaction. Returns how many runs were deleted.
   */
  pruneRuns(finishedBefore: number): Promise<number>
}

/** The append-only log of the runs' events. */
export interface EventLog {
  /** Events of a run with `seq > afterSeq`, oldest first. */
  listEvents(runId: RunId, options?: { afterSeq?: number; limit?: number }): Promise<StoredEvent[]>
  /**
   * Events of every run (or of `runId`) in the order they were committed,
   * after the position `after` (from the beginning without it), at most
   * `limit`. Tailing again with each page's `next` sees every committed
   * event exactly once, each run's in `seq` order, even with many processes
   * writing: an event that commits late with an earlier number is never
   * skipped. Positions are opaque strings, stable across restarts; one whose
   * run was pruned still works. A malformed `after` or `limit` fails with
   * `VALIDATION_FAILED`.
   *
   * @example
   * ```ts
   * let after: string | undefined
   * for (;;) {
   *   const page = await store.tailEvents({ after })
   *   for (const e of page.events) console.log(e.position, e.event.type)
   *   after = page.next
   * }
   * ```
   */
  tailEvents(options?: TailOptions): Promise<TailPage>
}

/**
 * Durable records of deployed agent instances and every lifecycle transition
 * they went through.
 */
export interface AgentStore {
  /**
   * Inserts (`transition.from === null`: the id must be new) or updates the
   * record, and appends the transition (numbered after the agent's last one),
   * atomically. Fenced: when the stored state is not `transition.from`, an
   * insert hits an existing id, or an update hits an unknown id, it fails
   * with `STORE_CONFLICT` and writes nothing. `record.state` must equal
   * `transition.to`, and the JSON fields must be JSON (else
   * `VALIDATION_FAILED`). An update writes every field but `id` and
   * `createdAt`, which keep their stored values.
   */
  saveAgent(
    record: AgentRecord,
    transition: { from: AgentState | null; to: AgentState; reason: string | null; at: number },
  ): Promise<void>
  /** An agent, or `undefined`. */
  getAgent(id: AgentId): Promise<AgentRecord | undefined>
  /** Agents matching the filter, oldest first (`createdAt`, then `id`). `parentId: null` lists root agents only. */
  listAgents(filter?: AgentFilter): Promise<AgentRecord[]>
  /** Every transition of the agent, `seq` ascending (1, 2, …); `[]` for an unknown id. */
  listAgentTransitions(agentId: AgentId): Promise<AgentTransition[]>
  /** Deletes the TERMINATED agents last updated before `before` (wall-clock ms), with their transitions; returns how many agents. */
  pruneAgents(before: number): Promise<number>
}

/**
 * The durable store of runs, tasks, events and agent instances. The engine writes every state
 * change through {@link RunStore.commit} before acting on it (write-ahead).
 * Adapters: `memory` (here), `sqlite` and `postgres`.
 */
export interface Store extends RunStore, EventLog, AgentStore {
  /** Adapter name, e.g. `memory`. */
  readonly kind: string
  /** Whether state survives the process (false for `memory`). */
  readonly durable: boolean
  /**
   * The task queue sharing this store's database (the same object on every
   * call): runs' leases, the attempts offered to workers, the worker catalog.
   * Every built-in adapter has one; a store without it runs embedded only.
   */
  queue?(clock?: Clock): TaskQueue
  /**
   * Who watches its commits (`commit` and the task queue's `complete`):
   * a traced `Orchestrator`, `Worker` or `Client` adds its span maker here.
   * The SQLite and PostgreSQL stores have it.
   */
  readonly commits?: CommitHooks
  /**
   * A named JSON value kept across restarts (e.g. `alerts`: the alert rules
   * set through the API), or `undefined`. The built-in adapters have it.
   */
  getSetting?(key: string): Promise<unknown>
  /**
   * Stores (or replaces) a named JSON value. A key is 1–64 lower-case
   * letters, digits, `.`, `_`, `-`; a bad key or a value that is not JSON
   * fails with `VALIDATION_FAILED`, storing nothing.
   */
  putSetting?(key: string, value: unknown): Promise<void>
  /** Releases connections and files. */
  close(): Promise<void>
}
