import { WORKER_BODY } from '../rows.js'
import type Database from 'better-sqlite3'
import { FlotillaError } from '../../core/errors.js'
import type { RunEvent } from '../../core/events.js'
import { asRunId, type RunId } from '../../core/ids.js'
import type { RunState } from '../../core/states.js'
import type { Clock } from '../../core/clock.js'
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
import { LocalSignal } from '../local-signal.js'
import { completeInfo, type CommitHooks } from '../commit-hooks.js'
import type { SqlValue } from './codec.js'
import { checkClaim } from '../fence.js'
import {
  prepareClaim,
  prepareComplete,
  prepareHeartbeat,
  prepareOffer,
  prepareRelease,
  prepareTake,
  type AttemptKey as Key,
  type ClaimTx,
  type CompleteTx,
  type HeartbeatTx,
  type OfferTx,
  type ReleaseTx,
  type TakeTx,
  type Transact,
} from './queue-tasks.js'

const UNFINISHED_RUN = "('PENDING', 'RUNNING', 'PAUSED')"

/** Claimable entries of one kind of demand (see {@link SqliteQueue.waiting}). */
interface WaitingRow {
  agent: string | null
  version: string | null
  capability: string | null
  n: number
  since: number
}

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
  private readonly doOffer: OfferTx
  private readonly doClaim: ClaimTx
  private readonly doHeartbeat: HeartbeatTx
  private readonly doComplete: CompleteTx
  private readonly doRelease: ReleaseTx
  private readonly doTake: TakeTx
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
  private readonly waitingStatement: Database.Statement<SqlValue[], WaitingRow>

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    append: (events: readonly RunEvent[]) => void,
    private readonly guard: <T>(fn: () => T) => T,
    private readonly commits?: CommitHooks,
  ) {
    const tx: Transact = (fn) => this.tx(fn)
    this.doOffer = prepareOffer(db, tx)
    this.doClaim = prepareClaim(db, clock, tx)
    this.doHeartbeat = prepareHeartbeat(db, clock, tx)
    this.doComplete = prepareComplete(db, clock, append, tx)
    this.doRelease = prepareRelease(db, tx)
    this.doTake = prepareTake(db, tx)
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
    // Ready entries through queue_by_state, lapsed claims apart; grouped by what they ask for (few groups).
    this.waitingStatement = this.db.prepare<SqlValue[], WaitingRow>(
      `SELECT q.agent, q.version, q.capability, COUNT(*) AS n, MIN(q.since) AS since FROM (
        SELECT run_id, agent, version, capability, MAX(offered_at, not_before) AS since FROM queue
          WHERE state = 'READY' AND not_before <= ?
        UNION ALL
        SELECT run_id, agent, version, capability, lease_until AS since FROM queue
          WHERE state = 'CLAIMED' AND lease_until < ?
      ) q JOIN runs r ON r.id = q.run_id
      WHERE r.state = 'RUNNING'
        AND (q.agent IN (SELECT value FROM json_each(?)) OR (q.agent IS NULL AND q.capability IN (SELECT value FROM json_each(?))))
      GROUP BY q.agent, q.version, q.capability`,
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

  async waiting(selectors: readonly QueueSelector[]): Promise<QueueWaiting[]> {
    if (selectors.length === 0) return []
    const now = this.clock.wallNow()
    const agents = JSON.stringify(selectors.flatMap((s) => (s.agent === undefined ? [] : [s.agent])))
    const caps = JSON.stringify(selectors.flatMap((s) => (s.capability === undefined ? [] : [s.capability])))
    const rows = this.guard(() => this.waitingStatement.all(now, now, agents, caps))
    return foldWaiting(
      rows.map((r) => ({
        agent: r.agent ?? undefined,
        version: r.version ?? undefined,
        capability: r.capability ?? undefined,
        count: r.n,
        since: r.since,
      })),
      selectors,
      now,
    )
  }

  async notify(): Promise<void> {
    this.signal.notify()
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return this.signal.wait(ms, signal)
  }
}
