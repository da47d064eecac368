import type Database from 'better-sqlite3'
import type { Clock } from '../../core/clock.js'
import type { RunEvent } from '../../core/events.js'
import { asRunId, asTaskId, type RunId, type TaskId } from '../../core/ids.js'
import type { RunState } from '../../core/states.js'
import {
  matchOffer,
  type HeartbeatReport,
  type QueueClaim,
  type QueueDone,
  type QueueOffer,
  type QueueResult,
  type QueueSelector,
} from '../queue.js'
import { leaseLost, runCancelled } from '../fence.js'
import { toJson, type SqlValue } from './codec.js'

/*
 * The task-attempt transactions of the SQLite queue (`SqliteQueue`): offer,
 * claim, heartbeat, complete, release and take. Each `prepare…` prepares its
 * statements once, when the queue is made, and returns the operation wrapped
 * by the queue's {@link Transact}: one `BEGIN IMMEDIATE` transaction per call,
 * so claims of two processes never take the same attempt.
 */

/** One claimed attempt of a task. */
export type AttemptKey = { runId: RunId; taskId: TaskId; attempt: number }
type Key = AttemptKey

/** Wraps `fn` as one `BEGIN IMMEDIATE` transaction, errors mapped by the store. */
export type Transact = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => R

interface QueueRow {
  run_id: string
  task_id: string
  attempt: number
  agent: string | null
  version: string | null
  capability: string | null
  priority: number
  rank: number
  not_before: number
  stored_attempt: number
}

/** Offers task attempts: a queue row each (an attempt already offered is ignored), and the task marked READY. */
export type OfferTx = (offers: readonly QueueOffer[], now: number) => void

/** Prepares the statements of a {@link OfferTx} once; the function returned runs as one transaction. */
export function prepareOffer(db: Database.Database, tx: Transact): OfferTx {
  const insert = db.prepare<
    SqlValue[]
  >(`INSERT OR IGNORE INTO queue (run_id, task_id, attempt, agent, version, capability, priority, rank, not_before, offered_at, state)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'READY')`)
  const ready = db.prepare<SqlValue[]>(
    `UPDATE tasks SET state = 'READY' WHERE run_id = ? AND task_id = ? AND state IN ('PENDING', 'RETRYING')`,
  )
  return tx((offers: readonly QueueOffer[], now: number) => {
    for (const o of offers) {
      if (
        insert.run(
          o.runId,
          o.taskId,
          o.attempt,
          o.agent ?? null,
          o.version ?? null,
          o.capability ?? null,
          o.priority,
          o.rank,
          o.notBefore,
          now,
        ).changes === 1
      ) {
        ready.run(o.runId, o.taskId)
      }
    }
  })
}

/** Claims up to `max` ready (or lease-expired) attempts matching `selectors` for `worker`, highest priority first, and starts their tasks; an entry whose task can no longer start is dropped. */
export type ClaimTx = (
  worker: string,
  selectors: readonly QueueSelector[],
  max: number,
  leaseMs: number,
) => QueueClaim[]

/** Prepares the statements of a {@link ClaimTx} once; the function returned runs as one transaction. */
export function prepareClaim(db: Database.Database, clock: Clock, tx: Transact): ClaimTx {
  const candidates = db.prepare<
    SqlValue[],
    QueueRow
  >(`SELECT q.run_id, q.task_id, q.attempt, q.agent, q.version, q.capability, q.priority, q.rank, q.not_before,
        t.attempt AS stored_attempt
      FROM queue q JOIN runs r ON r.id = q.run_id JOIN tasks t ON t.run_id = q.run_id AND t.task_id = q.task_id
      WHERE r.state = 'RUNNING' AND ((q.state = 'READY' AND q.not_before <= ?) OR (q.state = 'CLAIMED' AND q.lease_until < ?))
        AND (q.agent IN (SELECT value FROM json_each(?)) OR (q.agent IS NULL AND q.capability IN (SELECT value FROM json_each(?))))
      ORDER BY q.priority, q.rank DESC, q.offered_at LIMIT ?`)
  const take = db.prepare<SqlValue[]>(
    `UPDATE queue SET state = 'CLAIMED', worker = ?, lease_until = ?, attempt = ? WHERE run_id = ? AND task_id = ?`,
  )
  const start = db.prepare<SqlValue[]>(`UPDATE tasks SET state = 'RUNNING', attempt = ?, agent = ?, started_at = ?
      WHERE run_id = ? AND task_id = ? AND state NOT IN ('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED')`)
  const drop = db.prepare<SqlValue[]>('DELETE FROM queue WHERE run_id = ? AND task_id = ?')
  return tx((worker: string, selectors: readonly QueueSelector[], max: number, leaseMs: number): QueueClaim[] => {
    const now = clock.wallNow()
    const agents = JSON.stringify(selectors.flatMap((s) => (s.agent === undefined ? [] : [s.agent])))
    const caps = JSON.stringify(selectors.flatMap((s) => (s.capability === undefined ? [] : [s.capability])))
    const out: QueueClaim[] = []
    for (const row of candidates.all(now, now, agents, caps, max * 4)) {
      if (out.length >= max) break
      const offer = {
        agent: row.agent ?? undefined,
        version: row.version ?? undefined,
        capability: row.capability ?? undefined,
      }
      const label = matchOffer(offer, selectors)
      if (label === undefined) continue
      const attempt = row.stored_attempt + 1
      if (start.run(attempt, label, now, row.run_id, row.task_id).changes !== 1) {
        drop.run(row.run_id, row.task_id)
        continue
      }
      const leaseUntil = now + leaseMs
      take.run(worker, leaseUntil, attempt, row.run_id, row.task_id)
      out.push({
        runId: asRunId(row.run_id),
        taskId: asTaskId(row.task_id),
        attempt,
        ...offer,
        priority: row.priority,
        rank: row.rank,
        notBefore: row.not_before,
        worker,
        leaseUntil,
        idempotencyKey: `${row.run_id}:${row.task_id}`,
      })
    }
    return out
  })
}

/** Renews the leases of a worker's claims; reports those it lost and those whose run was cancelled or has ended. */
export type HeartbeatTx = (worker: string, claims: readonly Key[], leaseMs: number) => HeartbeatReport

/** Prepares the statements of a {@link HeartbeatTx} once; the function returned runs as one transaction. */
export function prepareHeartbeat(db: Database.Database, clock: Clock, tx: Transact): HeartbeatTx {
  const renew = db.prepare<SqlValue[]>(
    `UPDATE queue SET lease_until = ? WHERE run_id = ? AND task_id = ? AND worker = ? AND attempt = ? AND state = 'CLAIMED'`,
  )
  const runState = db.prepare<SqlValue[], { state: RunState }>('SELECT state FROM runs WHERE id = ?')
  return tx((worker: string, claims: readonly Key[], leaseMs: number): HeartbeatReport => {
    const until = clock.wallNow() + leaseMs
    const lost: Key[] = []
    const cancelled: Key[] = []
    for (const c of claims) {
      const state = runState.get(c.runId)?.state
      if (state === undefined || state === 'CANCELLED' || state === 'FAILED' || state === 'SUCCEEDED') cancelled.push(c)
      else if (renew.run(until, c.runId, c.taskId, worker, c.attempt).changes !== 1) lost.push(c)
    }
    return { lost, cancelled }
  })
}

/** Stores the result of a claimed attempt (fenced by worker and attempt), marks its entry DONE for the coordinator and appends its events. */
export type CompleteTx = (worker: string, c: Key, result: QueueResult, events: readonly RunEvent[]) => void

/** Prepares the statements of a {@link CompleteTx} once; the function returned runs as one transaction. */
export function prepareComplete(
  db: Database.Database,
  clock: Clock,
  append: (events: readonly RunEvent[]) => void,
  tx: Transact,
): CompleteTx {
  const held = db.prepare<SqlValue[], { worker: string | null; attempt: number; state: string; run_state: RunState }>(
    `SELECT q.worker, q.attempt, q.state, r.state AS run_state FROM queue q JOIN runs r ON r.id = q.run_id WHERE q.run_id = ? AND q.task_id = ?`,
  )
  const succeed = db.prepare<SqlValue[]>(
    `UPDATE tasks SET state = 'SUCCEEDED', output = ?, finished_at = ?, error = NULL, model = COALESCE(?, model) WHERE run_id = ? AND task_id = ? AND attempt = ? AND state = 'RUNNING'`,
  )
  const fail = db.prepare<SqlValue[]>(
    `UPDATE tasks SET state = 'RETRYING', error = ?, model = COALESCE(?, model) WHERE run_id = ? AND task_id = ? AND attempt = ? AND state = 'RUNNING'`,
  )
  const done = db.prepare<SqlValue[]>(
    `UPDATE queue SET state = 'DONE', ok = ?, worker = NULL WHERE run_id = ? AND task_id = ?`,
  )
  return tx((worker: string, c: Key, result: QueueResult, events: readonly RunEvent[]): void => {
    const row = held.get(c.runId, c.taskId)
    if (row === undefined || row.worker !== worker || row.attempt !== c.attempt || row.state !== 'CLAIMED')
      throw leaseLost(c, worker)
    if (row.run_state !== 'RUNNING' && row.run_state !== 'PAUSED' && row.run_state !== 'PENDING')
      throw runCancelled(c, row.run_state)
    const now = clock.wallNow()
    const model = toJson(result.model, 'model spend of task', c.taskId)
    const changed = result.ok
      ? succeed.run(toJson(result.output, 'output of task', c.taskId), now, model, c.runId, c.taskId, c.attempt).changes
      : fail.run(toJson(result.error, 'task error'), model, c.runId, c.taskId, c.attempt).changes
    if (changed !== 1) throw leaseLost(c, worker)
    done.run(result.ok ? 1 : 0, c.runId, c.taskId)
    if (events.length > 0) append(events)
  })
}

/** Gives claimed attempts back unstarted: READY again, at their previous attempt number. */
export type ReleaseTx = (worker: string, claims: readonly Key[]) => void

/** Prepares the statements of a {@link ReleaseTx} once; the function returned runs as one transaction. */
export function prepareRelease(db: Database.Database, tx: Transact): ReleaseTx {
  const back = db.prepare<SqlValue[]>(
    `UPDATE queue SET state = 'READY', worker = NULL, lease_until = 0 WHERE run_id = ? AND task_id = ? AND worker = ? AND attempt = ? AND state = 'CLAIMED'`,
  )
  const task = db.prepare<SqlValue[]>(
    `UPDATE tasks SET state = 'READY', attempt = attempt - 1 WHERE run_id = ? AND task_id = ? AND attempt = ? AND state = 'RUNNING'`,
  )
  const reoffer = db.prepare<SqlValue[]>('UPDATE queue SET attempt = ? WHERE run_id = ? AND task_id = ?')
  return tx((worker: string, claims: readonly Key[]) => {
    for (const c of claims) {
      if (
        back.run(c.runId, c.taskId, worker, c.attempt).changes === 1 &&
        task.run(c.runId, c.taskId, c.attempt).changes === 1
      )
        reoffer.run(c.attempt, c.runId, c.taskId)
    }
  })
}

/** Takes (and deletes) up to `max` DONE entries of the runs the coordinator holds. */
export type TakeTx = (coordinator: string, max: number) => QueueDone[]

/** Prepares the statements of a {@link TakeTx} once; the function returned runs as one transaction. */
export function prepareTake(db: Database.Database, tx: Transact): TakeTx {
  const select = db.prepare<SqlValue[], { run_id: string; task_id: string; attempt: number; ok: number }>(
    `SELECT q.run_id, q.task_id, q.attempt, q.ok FROM queue q JOIN runs r ON r.id = q.run_id WHERE r.holder = ? AND q.state = 'DONE' LIMIT ?`,
  )
  const drop = db.prepare<SqlValue[]>(`DELETE FROM queue WHERE run_id = ? AND task_id = ? AND state = 'DONE'`)
  return tx((coordinator: string, max: number) => {
    const rows = select.all(coordinator, max)
    for (const r of rows) drop.run(r.run_id, r.task_id)
    return rows.map((r) => ({
      runId: asRunId(r.run_id),
      taskId: asTaskId(r.task_id),
      attempt: r.attempt,
      ok: r.ok === 1,
    }))
  })
}
