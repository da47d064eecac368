import type { Clock } from '../../core/clock.js'
import { FlotillaError } from '../../core/errors.js'
import type { RunEvent } from '../../core/events.js'
import type { RunId, TaskId } from '../../core/ids.js'
import { isFinalRunState, isFinalTaskState } from '../../core/states.js'
import type { RunRecord, TaskRecord } from '../records.js'
import { LocalSignal } from '../local-signal.js'
import {
  foldWaiting,
  matchOffer,
  type HeartbeatReport,
  type QueueClaim,
  type QueueDone,
  type QueueOffer,
  type QueueResult,
  type QueueSelector,
  type QueueWaiting,
  type RunLease,
  type TaskQueue,
  type WaitingGroup,
  type WorkerRecord,
} from '../queue.js'
import { checkClaim, leaseLost, runCancelled } from '../fence.js'

type Key = { runId: RunId; taskId: TaskId; attempt: number }

/** What the memory queue reads and writes of a memory store's run. */
export interface MemoryRunView {
  run: RunRecord
  task(taskId: TaskId): TaskRecord | undefined
  holder: string | undefined
  leaseUntil: number
}

/** The memory store's side of a {@link MemoryQueue}. */
export interface MemoryQueueHost {
  run(runId: RunId): MemoryRunView | undefined
  runs(): Iterable<MemoryRunView>
  append(events: readonly RunEvent[]): void
  /** Deep copy of a value being stored. */
  copy<T>(value: T): T
}

interface Entry extends QueueOffer {
  state: 'READY' | 'CLAIMED' | 'DONE'
  worker: string | undefined
  leaseUntil: number
  ok: boolean
  offeredAt: number
  seq: number
}

/**
 * The in-memory {@link TaskQueue}: the same rules as the SQL adapters (one
 * entry per task, leases, fencing, run leases, the worker catalog) in one
 * process, for tests and for several workers sharing one memory store.
 * Scans its entries on a claim: fine for the sizes a memory store holds.
 */
export class MemoryQueue implements TaskQueue {
  readonly kind = 'memory'
  private readonly entries = new Map<string, Entry>()
  private readonly workers = new Map<string, WorkerRecord>()
  private readonly signal = new LocalSignal()
  private seq = 0

  constructor(
    private readonly host: MemoryQueueHost,
    private readonly clock: Clock,
  ) {}

  async offer(offers: readonly QueueOffer[]): Promise<void> {
    const now = this.clock.wallNow()
    for (const o of offers) {
      const key = `${o.runId}\u0000${o.taskId}`
      const view = this.host.run(o.runId)
      const task = view?.task(o.taskId)
      if (view === undefined || task === undefined)
        throw new FlotillaError('RUN_NOT_FOUND', `No run "${o.runId}" with task "${o.taskId}" in the store.`, {
          details: { runId: o.runId, taskId: o.taskId },
        })
      if (this.entries.has(key)) continue
      this.entries.set(key, {
        ...o,
        state: 'READY',
        worker: undefined,
        leaseUntil: 0,
        ok: false,
        offeredAt: now,
        seq: ++this.seq,
      })
      if (task.state === 'PENDING' || task.state === 'RETRYING') task.state = 'READY'
    }
    if (offers.length > 0) this.signal.notify()
  }

  async claim(
    worker: string,
    selectors: readonly QueueSelector[],
    max: number,
    leaseMs: number,
  ): Promise<QueueClaim[]> {
    checkClaim(worker, max, leaseMs)
    const now = this.clock.wallNow()
    const candidates: { e: Entry; label: string }[] = []
    for (const e of this.entries.values()) {
      const claimable = (e.state === 'READY' && e.notBefore <= now) || (e.state === 'CLAIMED' && e.leaseUntil < now)
      if (!claimable || this.host.run(e.runId)?.run.state !== 'RUNNING') continue
      const label = matchOffer(e, selectors)
      if (label !== undefined) candidates.push({ e, label })
    }
    candidates.sort(
      (a, b) =>
        a.e.priority - b.e.priority || b.e.rank - a.e.rank || a.e.offeredAt - b.e.offeredAt || a.e.seq - b.e.seq,
    )
    const out: QueueClaim[] = []
    for (const { e, label } of candidates) {
      if (out.length >= max) break
      const task = this.host.run(e.runId)!.task(e.taskId)!
      if (isFinalTaskState(task.state)) {
        this.entries.delete(`${e.runId}\u0000${e.taskId}`)
        continue
      }
      const attempt = task.attempt + 1
      Object.assign(task, { state: 'RUNNING', attempt, agent: label, startedAt: now })
      Object.assign(e, { state: 'CLAIMED', worker, leaseUntil: now + leaseMs, attempt })
      out.push({
        runId: e.runId,
        taskId: e.taskId,
        attempt,
        agent: e.agent,
        version: e.version,
        capability: e.capability,
        priority: e.priority,
        rank: e.rank,
        notBefore: e.notBefore,
        worker,
        leaseUntil: e.leaseUntil,
        idempotencyKey: `${e.runId}:${e.taskId}`,
      })
    }
    return out
  }

  async heartbeat(worker: string, claims: readonly Key[], leaseMs: number): Promise<HeartbeatReport> {
    const until = this.clock.wallNow() + leaseMs
    const lost: Key[] = []
    const cancelled: Key[] = []
    for (const c of claims) {
      const state = this.host.run(c.runId)?.run.state
      const e = this.entries.get(`${c.runId}\u0000${c.taskId}`)
      if (state === undefined || state === 'CANCELLED' || isFinalRunState(state)) cancelled.push(c)
      else if (e === undefined || e.state !== 'CLAIMED' || e.worker !== worker || e.attempt !== c.attempt) lost.push(c)
      else e.leaseUntil = until
    }
    return { lost, cancelled }
  }

  async complete(worker: string, c: Key, result: QueueResult, events: readonly RunEvent[] = []): Promise<void> {
    const e = this.entries.get(`${c.runId}\u0000${c.taskId}`)
    if (e === undefined || e.worker !== worker || e.attempt !== c.attempt || e.state !== 'CLAIMED')
      throw leaseLost(c, worker)
    const view = this.host.run(c.runId)!
    const runState = view.run.state
    if (runState !== 'RUNNING' && runState !== 'PAUSED' && runState !== 'PENDING') throw runCancelled(c, runState)
    const task = view.task(c.taskId)!
    if (task.state !== 'RUNNING' || task.attempt !== c.attempt) throw leaseLost(c, worker)
    if (result.ok)
      Object.assign(task, {
        state: 'SUCCEEDED',
        output: this.host.copy(result.output),
        error: undefined,
        finishedAt: this.clock.wallNow(),
      })
    else Object.assign(task, { state: 'RETRYING', error: this.host.copy(result.error) })
    if (result.model !== undefined) task.model = { ...result.model }
    Object.assign(e, { state: 'DONE', ok: result.ok, worker: undefined })
    if (events.length > 0) this.host.append(events)
    this.signal.notify()
  }

  async release(worker: string, claims: readonly Key[]): Promise<void> {
    for (const c of claims) {
      const e = this.entries.get(`${c.runId}\u0000${c.taskId}`)
      const task = this.host.run(c.runId)?.task(c.taskId)
      if (
        e === undefined ||
        task === undefined ||
        e.worker !== worker ||
        e.attempt !== c.attempt ||
        e.state !== 'CLAIMED' ||
        task.state !== 'RUNNING'
      )
        continue
      Object.assign(e, { state: 'READY', worker: undefined, leaseUntil: 0 })
      Object.assign(task, { state: 'READY', attempt: c.attempt - 1 })
    }
    if (claims.length > 0) this.signal.notify()
  }

  async takeResults(coordinator: string, max: number): Promise<QueueDone[]> {
    const out: QueueDone[] = []
    for (const [key, e] of this.entries) {
      if (out.length >= max) break
      if (e.state !== 'DONE' || this.host.run(e.runId)?.holder !== coordinator) continue
      this.entries.delete(key)
      out.push({ runId: e.runId, taskId: e.taskId, attempt: e.attempt, ok: e.ok })
    }
    return out
  }

  async dropRun(runId: RunId): Promise<void> {
    for (const [key, e] of this.entries) if (e.runId === runId) this.entries.delete(key)
  }

  async claimRuns(coordinator: string, max: number, leaseMs: number, only?: readonly RunId[]): Promise<RunLease[]> {
    if (only !== undefined && only.length === 0) return []
    checkClaim(coordinator, max, leaseMs)
    const now = this.clock.wallNow()
    const wanted = only === undefined ? undefined : new Set<string>(only)
    const free = [...this.host.runs()].filter(
      (v) => !isFinalRunState(v.run.state) && v.leaseUntil < now && (wanted === undefined || wanted.has(v.run.id)),
    )
    free.sort((a, b) => a.run.createdAt - b.run.createdAt || (a.run.id < b.run.id ? -1 : 1))
    return free.slice(0, max).map((v) => {
      v.holder = coordinator
      v.leaseUntil = now + leaseMs
      return { runId: v.run.id, state: v.run.state }
    })
  }

  async renewRuns(coordinator: string, runIds: readonly RunId[], leaseMs: number): Promise<RunLease[]> {
    const until = this.clock.wallNow() + leaseMs
    const out: RunLease[] = []
    for (const id of runIds) {
      const v = this.host.run(id)
      if (v === undefined || v.holder !== coordinator) continue
      v.leaseUntil = until
      out.push({ runId: id, state: v.run.state })
    }
    return out
  }

  async releaseRuns(coordinator: string, runIds: readonly RunId[]): Promise<void> {
    for (const id of runIds) {
      const v = this.host.run(id)
      if (v === undefined || v.holder !== coordinator) continue
      v.holder = undefined
      v.leaseUntil = 0
    }
    this.signal.notify()
  }

  async runHolder(runId: RunId): Promise<{ holder: string | undefined; leaseUntil: number }> {
    const v = this.host.run(runId)
    if (v === undefined)
      throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
    return { holder: v.holder, leaseUntil: v.leaseUntil }
  }

  async advertise(worker: WorkerRecord): Promise<void> {
    this.workers.set(worker.id, structuredClone(worker))
  }

  async retire(workerId: string): Promise<void> {
    this.workers.delete(workerId)
  }

  async listWorkers(since: number): Promise<WorkerRecord[]> {
    return [...this.workers.values()]
      .filter((w) => w.heartbeatAt > since)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((w) => structuredClone(w))
  }

  async storeTime(): Promise<number | undefined> {
    return undefined
  }

  async waiting(selectors: readonly QueueSelector[]): Promise<QueueWaiting[]> {
    const now = this.clock.wallNow()
    const groups = new Map<string, WaitingGroup>()
    for (const e of this.entries.values()) {
      const ready = e.state === 'READY' && e.notBefore <= now
      if (!(ready || (e.state === 'CLAIMED' && e.leaseUntil < now))) continue
      if (this.host.run(e.runId)?.run.state !== 'RUNNING') continue
      const since = ready ? Math.max(e.offeredAt, e.notBefore) : e.leaseUntil
      const key = `${e.agent}\u0000${e.version}\u0000${e.capability}`
      const g = groups.get(key)
      groups.set(key, {
        agent: e.agent,
        version: e.version,
        capability: e.capability,
        count: (g?.count ?? 0) + 1,
        since: Math.min(g?.since ?? Infinity, since),
      })
    }
    return foldWaiting([...groups.values()], selectors, now)
  }

  async notify(): Promise<void> {
    this.signal.notify()
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return this.signal.wait(ms, signal)
  }
}
