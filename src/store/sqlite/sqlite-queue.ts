import { WORKER_BODY } from '../rows.js'
import type Database from 'better-sqlite3'
import { FlotillaError } from '../../core/errors.js'
import type { RunEvent } from '../../core/events.js'
import { asRunId, asTaskId, type RunId, type TaskId } from '../../core/ids.js'
import type { RunState } from '../../core/states.js'
import type { Clock } from '../../core/clock.js'
import {
  matchOffer,
  type HeartbeatReport,
  type QueueClaim,
  type QueueDone,
  type QueueOffer,
  type QueueResult,
  type QueueSelector,
  type RunLease,
  type TaskQueue,
  type WorkerRecord,
} from '../queue.js'
import { LocalSignal } from '../local-signal.js'
import { completeInfo, type CommitHooks } from '../commit-hooks.js'
import { toJson, type SqlValue } from './codec.js'
import { checkClaim, leaseLost, runCancelled } from '../fence.js'

type Key = { runId: RunId; taskId: TaskId; attempt: number }

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

const UNFINISHED_RUN = "('PENDING', 'RUNNING', 'PAUSED')"

/**
 * The SQLite {@link TaskQueue}: several processes on one host share one
 * database file. Every operation is one `BEGIN IMMEDIATE` transaction, so
 * claims of two processes never take the same attempt. SQLite has no
 * notifications between processes: {@link SqliteQueue.wait} wakes at once for
 * what this process did, and otherwise after its poll interval.
 */
export class SqliteQueue implements TaskQueue {
  readonly kind = 'sqlite'
  private readonly signal = new LocalSignal()
  private readonly doOffer: (offers: readonly QueueOffer[], now: number) => void
  private readonly doClaim: (
    worker: string,
    selectors: readonly QueueSelector[],
    max: number,
    leaseMs: number,
  ) => QueueClaim[]
  private readonly doHeartbeat: (worker: string, claims: readonly Key[], leaseMs: number) => HeartbeatReport
  private readonly doComplete: (worker: string, c: Key, result: QueueResult, events: readonly RunEvent[]) => void
  private readonly doRelease: (worker: string, claims: readonly Key[]) => void
  private readonly doTake: (coordinator: string, max: number) => QueueDone[]
  private readonly dropStatement: Database.Statement<SqlValue[]>
  private readonly doClaimRuns: (
    coordinator: string,
    max: number,
    leaseMs: number,
    only: readonly RunId[] | undefined,
  ) => RunLease[]
  private readonly doRenew: (coordinator: string, runIds: readonly RunId[], leaseMs: number) => RunLease[]
  private readonly releaseRunStatement: Database.Statement<SqlValue[]>
  private readonly holderStatement: Database.Statement<SqlValue[], { holder: string | null; lease_until: number }>
  private readonly advertiseStatement: Database.Statement<SqlValue[]>
  private readonly retireStatement: Database.Statement<SqlValue[]>
  private readonly listWorkersStatement: Database.Statement<SqlValue[], { body: string }>

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    private readonly append: (events: readonly RunEvent[]) => void,
    private readonly guard: <T>(fn: () => T) => T,
    private readonly commits?: CommitHooks,
  ) {
    this.doOffer = ((): ((offers: readonly QueueOffer[], now: number) => void) => {
      const insert = this.db.prepare<
        SqlValue[]
      >(`INSERT OR IGNORE INTO queue (run_id, task_id, attempt, agent, version, capability, priority, rank, not_before, offered_at, state)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'READY')`)
      const ready = this.db.prepare<SqlValue[]>(
        `UPDATE tasks SET state = 'READY' WHERE run_id = ? AND task_id = ? AND state IN ('PENDING', 'RETRYING')`,
      )
      return this.tx((offers: readonly QueueOffer[], now: number) => {
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
    })()
    this.doClaim = ((): ((
      worker: string,
      selectors: readonly QueueSelector[],
      max: number,
      leaseMs: number,
    ) => QueueClaim[]) => {
      const candidates = this.db.prepare<
        SqlValue[],
        QueueRow
      >(`SELECT q.run_id, q.task_id, q.attempt, q.agent, q.version, q.capability, q.priority, q.rank, q.not_before,
        t.attempt AS stored_attempt
      FROM queue q JOIN runs r ON r.id = q.run_id JOIN tasks t ON t.run_id = q.run_id AND t.task_id = q.task_id
      WHERE r.state = 'RUNNING' AND ((q.state = 'READY' AND q.not_before <= ?) OR (q.state = 'CLAIMED' AND q.lease_until < ?))
        AND (q.agent IN (SELECT value FROM json_each(?)) OR (q.agent IS NULL AND q.capability IN (SELECT value FROM json_each(?))))
      ORDER BY q.priority, q.rank DESC, q.offered_at LIMIT ?`)
      const take = this.db.prepare<SqlValue[]>(
        `UPDATE queue SET state = 'CLAIMED', worker = ?, lease_until = ?, attempt = ? WHERE run_id = ? AND task_id = ?`,
      )
      const start = this.db.prepare<
        SqlValue[]
      >(`UPDATE tasks SET state = 'RUNNING', attempt = ?, agent = ?, started_at = ?
      WHERE run_id = ? AND task_id = ? AND state NOT IN ('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED')`)
      const drop = this.db.prepare<SqlValue[]>('DELETE FROM queue WHERE run_id = ? AND task_id = ?')
      return this.tx(
        (worker: string, selectors: readonly QueueSelector[], max: number, leaseMs: number): QueueClaim[] => {
          const now = this.clock.wallNow()
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
        },
      )
    })()
    this.doHeartbeat = ((): ((worker: string, claims: readonly Key[], leaseMs: number) => HeartbeatReport) => {
      const renew = this.db.prepare<SqlValue[]>(
        `UPDATE queue SET lease_until = ? WHERE run_id = ? AND task_id = ? AND worker = ? AND attempt = ? AND state = 'CLAIMED'`,
      )
      const runState = this.db.prepare<SqlValue[], { state: RunState }>('SELECT state FROM runs WHERE id = ?')
      return this.tx((worker: string, claims: readonly Key[], leaseMs: number): HeartbeatReport => {
        const until = this.clock.wallNow() + leaseMs
        const lost: Key[] = []
        const cancelled: Key[] = []
        for (const c of claims) {
          const state = runState.get(c.runId)?.state
          if (state === undefined || state === 'CANCELLED' || state === 'FAILED' || state === 'SUCCEEDED')
            cancelled.push(c)
          else if (renew.run(until, c.runId, c.taskId, worker, c.attempt).changes !== 1) lost.push(c)
        }
        return { lost, cancelled }
      })
    })()
    this.doComplete = ((): ((worker: string, c: Key, result: QueueResult, events: readonly RunEvent[]) => void) => {
      const held = this.db.prepare<
        SqlValue[],
        { worker: string | null; attempt: number; state: string; run_state: RunState }
      >(
        `SELECT q.worker, q.attempt, q.state, r.state AS run_state FROM queue q JOIN runs r ON r.id = q.run_id WHERE q.run_id = ? AND q.task_id = ?`,
      )
      const succeed = this.db.prepare<SqlValue[]>(
        `UPDATE tasks SET state = 'SUCCEEDED', output = ?, finished_at = ?, error = NULL, model = COALESCE(?, model) WHERE run_id = ? AND task_id = ? AND attempt = ? AND state = 'RUNNING'`,
      )
      const fail = this.db.prepare<SqlValue[]>(
        `UPDATE tasks SET state = 'RETRYING', error = ?, model = COALESCE(?, model) WHERE run_id = ? AND task_id = ? AND attempt = ? AND state = 'RUNNING'`,
      )
      const done = this.db.prepare<SqlValue[]>(
        `UPDATE queue SET state = 'DONE', ok = ?, worker = NULL WHERE run_id = ? AND task_id = ?`,
      )
      return this.tx((worker: string, c: Key, result: QueueResult, events: readonly RunEvent[]): void => {
        const row = held.get(c.runId, c.taskId)
        if (row === undefined || row.worker !== worker || row.attempt !== c.attempt || row.state !== 'CLAIMED')
          throw leaseLost(c, worker)
        if (row.run_state !== 'RUNNING' && row.run_state !== 'PAUSED' && row.run_state !== 'PENDING')
          throw runCancelled(c, row.run_state)
        const now = this.clock.wallNow()
        const model = toJson(result.model, 'model spend of task', c.taskId)
        const changed = result.ok
          ? succeed.run(toJson(result.output, 'output of task', c.taskId), now, model, c.runId, c.taskId, c.attempt)
              .changes
          : fail.run(toJson(result.error, 'task error'), model, c.runId, c.taskId, c.attempt).changes
        if (changed !== 1) throw leaseLost(c, worker)
        done.run(result.ok ? 1 : 0, c.runId, c.taskId)
        if (events.length > 0) this.append(events)
      })
    })()
    this.doRelease = ((): ((worker: string, claims: readonly Key[]) => void) => {
      const back = this.db.prepare<SqlValue[]>(
        `UPDATE queue SET state = 'READY', worker = NULL, lease_until = 0 WHERE run_id = ? AND task_id = ? AND worker = ? AND attempt = ? AND state = 'CLAIMED'`,
      )
      const task = this.db.prepare<SqlValue[]>(
        `UPDATE tasks SET state = 'READY', attempt = attempt - 1 WHERE run_id = ? AND task_id = ? AND attempt = ? AND state = 'RUNNING'`,
      )
      const reoffer = this.db.prepare<SqlValue[]>('UPDATE queue SET attempt = ? WHERE run_id = ? AND task_id = ?')
      return this.tx((worker: string, claims: readonly Key[]) => {
        for (const c of claims) {
          if (
            back.run(c.runId, c.taskId, worker, c.attempt).changes === 1 &&
            task.run(c.runId, c.taskId, c.attempt).changes === 1
          )
            reoffer.run(c.attempt, c.runId, c.taskId)
        }
      })
    })()
    this.doTake = ((): ((coordinator: string, max: number) => QueueDone[]) => {
      const select = this.db.prepare<SqlValue[], { run_id: string; task_id: string; attempt: number; ok: number }>(
        `SELECT q.run_id, q.task_id, q.attempt, q.ok FROM queue q JOIN runs r ON r.id = q.run_id WHERE r.holder = ? AND q.state = 'DONE' LIMIT ?`,
      )
      const drop = this.db.prepare<SqlValue[]>(`DELETE FROM queue WHERE run_id = ? AND task_id = ? AND state = 'DONE'`)
      return this.tx((coordinator: string, max: number) => {
        const rows = select.all(coordinator, max)
        for (const r of rows) drop.run(r.run_id, r.task_id)
        return rows.map((r) => ({
          runId: asRunId(r.run_id),
          taskId: asTaskId(r.task_id),
          attempt: r.attempt,
          ok: r.ok === 1,
        }))
      })
    })()
    this.dropStatement = this.db.prepare<SqlValue[]>('DELETE FROM queue WHERE run_id = ?')
    this.doClaimRuns = ((): ((
      coordinator: string,
      max: number,
      leaseMs: number,
      only: readonly RunId[] | undefined,
    ) => RunLease[]) => {
      const select = this.db.prepare<SqlValue[], { id: string; state: RunState }>(
        `SELECT id, state FROM runs WHERE state IN ${UNFINISHED_RUN} AND lease_until < ?
        AND (? IS NULL OR id IN (SELECT value FROM json_each(?))) ORDER BY created_at, id LIMIT ?`,
      )
      const take = this.db.prepare<SqlValue[]>('UPDATE runs SET holder = ?, lease_until = ? WHERE id = ?')
      return this.tx((coordinator: string, max: number, leaseMs: number, only: readonly RunId[] | undefined) => {
        const now = this.clock.wallNow()
        const ids = only === undefined ? null : JSON.stringify(only)
        const rows = select.all(now, ids, ids, max)
        for (const r of rows) take.run(coordinator, now + leaseMs, r.id)
        return rows.map((r) => ({ runId: asRunId(r.id), state: r.state }))
      })
    })()
    this.doRenew = ((): ((coordinator: string, runIds: readonly RunId[], leaseMs: number) => RunLease[]) => {
      const renew = this.db.prepare<SqlValue[], { state: RunState }>(
        'UPDATE runs SET lease_until = ? WHERE id = ? AND holder = ? RETURNING state',
      )
      return this.tx((coordinator: string, runIds: readonly RunId[], leaseMs: number) => {
        const until = this.clock.wallNow() + leaseMs
        const out: RunLease[] = []
        for (const id of runIds) {
          const row = renew.get(until, id, coordinator)
          if (row !== undefined) out.push({ runId: id, state: row.state })
        }
        return out
      })
    })()
    this.releaseRunStatement = this.db.prepare<SqlValue[]>(
      'UPDATE runs SET holder = NULL, lease_until = 0 WHERE id = ? AND holder = ?',
    )
    this.holderStatement = this.db.prepare<SqlValue[], { holder: string | null; lease_until: number }>(
      'SELECT holder, lease_until FROM runs WHERE id = ?',
    )
    this.advertiseStatement = this.db.prepare<SqlValue[]>(
      'INSERT INTO workers (id, body, heartbeat_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, heartbeat_at = excluded.heartbeat_at',
    )
    this.retireStatement = this.db.prepare<SqlValue[]>('DELETE FROM workers WHERE id = ?')
    this.listWorkersStatement = this.db.prepare<SqlValue[], { body: string }>(
      'SELECT body FROM workers WHERE heartbeat_at > ? ORDER BY id',
    )
  }

  /** `fn` as one `BEGIN IMMEDIATE` transaction, errors mapped by the store. */
  private tx<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const t = this.db.transaction(fn)
    return (...args) => this.guard(() => t.immediate(...args))
  }

  async offer(offers: readonly QueueOffer[]): Promise<void> {
    if (offers.length === 0) return
    this.doOffer(offers, this.clock.wallNow())
    this.signal.notify()
  }

  async claim(
    worker: string,
    selectors: readonly QueueSelector[],
    max: number,
    leaseMs: number,
  ): Promise<QueueClaim[]> {
    checkClaim(worker, max, leaseMs)
    if (selectors.length === 0) return []
    return this.doClaim(worker, selectors, max, leaseMs)
  }

  async heartbeat(worker: string, claims: readonly Key[], leaseMs: number): Promise<HeartbeatReport> {
    if (claims.length === 0) return { lost: [], cancelled: [] }
    return this.doHeartbeat(worker, claims, leaseMs)
  }

  async complete(worker: string, claim: Key, result: QueueResult, events: readonly RunEvent[] = []): Promise<void> {
    const end = this.commits?.active ? this.commits.start(completeInfo('sqlite', [claim], events.length)) : undefined
    try {
      this.doComplete(worker, claim, result, events)
    } catch (e) {
      end?.(e)
      throw e
    }
    end?.()
    this.signal.notify()
  }

  async release(worker: string, claims: readonly Key[]): Promise<void> {
    if (claims.length === 0) return
    this.doRelease(worker, claims)
    this.signal.notify()
  }

  async takeResults(coordinator: string, max: number): Promise<QueueDone[]> {
    return this.doTake(coordinator, max)
  }

  async dropRun(runId: RunId): Promise<void> {
    this.guard(() => this.dropStatement.run(runId))
  }

  async claimRuns(coordinator: string, max: number, leaseMs: number, only?: readonly RunId[]): Promise<RunLease[]> {
    if (only !== undefined && only.length === 0) return []
    checkClaim(coordinator, max, leaseMs)
    return this.doClaimRuns(coordinator, max, leaseMs, only)
  }

  async renewRuns(coordinator: string, runIds: readonly RunId[], leaseMs: number): Promise<RunLease[]> {
    if (runIds.length === 0) return []
    return this.doRenew(coordinator, runIds, leaseMs)
  }

  async releaseRuns(coordinator: string, runIds: readonly RunId[]): Promise<void> {
    this.tx(() => {
      for (const id of runIds) this.releaseRunStatement.run(id, coordinator)
    })()
    this.signal.notify()
  }

  async runHolder(runId: RunId): Promise<{ holder: string | undefined; leaseUntil: number }> {
    const row = this.guard(() => this.holderStatement.get(runId))
    if (row === undefined)
      throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
    return { holder: row.holder ?? undefined, leaseUntil: row.lease_until }
  }

  async advertise(worker: WorkerRecord): Promise<void> {
    this.guard(() => this.advertiseStatement.run(worker.id, JSON.stringify(worker), worker.heartbeatAt))
  }

  async retire(workerId: string): Promise<void> {
    this.guard(() => this.retireStatement.run(workerId))
  }

  async listWorkers(since: number): Promise<WorkerRecord[]> {
    return this.guard(() => this.listWorkersStatement.all(since).map((r) => WORKER_BODY.decodeRequired(r.body)))
  }

  async storeTime(): Promise<number | undefined> {
    return undefined
  }

  async notify(): Promise<void> {
    this.signal.notify()
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return this.signal.wait(ms, signal)
  }
}
