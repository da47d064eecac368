import { FlotillaError } from '../../core/errors.js'
import type { FlotillaEvent } from '../../core/events.js'
import type { RunId, TaskId } from '../../core/ids.js'
import { isFinalRunState, isFinalTaskState, type RunState } from '../../core/states.js'
import type { RunFilter, RunRecord, StoreBatch, StoredEvent, StoreOp, TaskRecord } from '../records.js'
import type { Store } from '../store.js'

interface RunEntry {
  run: RunRecord
  tasks: Map<TaskId, TaskRecord>
  order: TaskRecord[]
  events: StoredEvent[]
}

/** Attempt and finality of a task as a batch sees it while being validated. */
interface Pending {
  attempt: number
  running: boolean
  final: boolean
}

/**
 * The in-memory {@link Store}: fast, complete, and gone with the process. It
 * enforces the same rules as the durable adapters (atomic batches, attempt
 * fencing), so code tested on it behaves the same on SQLite or PostgreSQL.
 *
 * @example
 * ```ts
 * const orchestrator = new Orchestrator({ store: new MemoryStore() })
 * ```
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly durable = false
  private readonly runs = new Map<RunId, RunEntry>()
  private closed = false

  async commit(batch: StoreBatch): Promise<void> {
    this.assertOpen()
    this.validate(batch.ops)
    for (const op of batch.ops) this.apply(op)
    const events = batch.events
    for (let i = 0; i < events.length; i++) {
      const e: FlotillaEvent = events[i]
      const entry = this.runs.get(e.runId)
      if (entry) entry.events.push({ seq: entry.events.length + 1, event: e.type === 'task.log' && e.data !== undefined ? { ...e, data: copy(e.data) } : { ...e } })
    }
  }

  async getRun(runId: RunId): Promise<RunRecord | undefined> {
    this.assertOpen()
    const entry = this.runs.get(runId)
    return entry ? structuredClone(entry.run) : undefined
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    this.assertOpen()
    const states = filter.state === undefined ? undefined : new Set(Array.isArray(filter.state) ? filter.state : [filter.state])
    const out: RunRecord[] = []
    for (const { run } of this.runs.values()) {
      if (states && !states.has(run.state)) continue
      if (filter.workflow !== undefined && run.workflow !== filter.workflow) continue
      out.push(structuredClone(run))
    }
    out.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
    return out.slice(0, filter.limit ?? 100)
  }

  async getTasks(runId: RunId): Promise<TaskRecord[]> {
    this.assertOpen()
    return this.entry(runId).order.map((t) => structuredClone(t))
  }

  async getTask(runId: RunId, taskId: TaskId): Promise<TaskRecord | undefined> {
    this.assertOpen()
    const t = this.runs.get(runId)?.tasks.get(taskId)
    return t ? structuredClone(t) : undefined
  }

  async listEvents(runId: RunId, options: { afterSeq?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    this.assertOpen()
    const events = this.entry(runId).events
    const from = Math.max(0, options.afterSeq ?? 0)
    return structuredClone(events.slice(from, from + (options.limit ?? events.length)))
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private assertOpen(): void {
    if (this.closed) throw new FlotillaError('STORE_UNAVAILABLE', 'The memory store was closed; create a new one.')
  }

  private entry(runId: RunId): RunEntry {
    const entry = this.runs.get(runId)
    if (!entry) throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
    return entry
  }

  /** Checks every op against the stored state plus the effects of earlier ops of the batch; throws before anything is applied. */
  private validate(ops: readonly StoreOp[]): void {
    let created: Map<RunId, Map<TaskId, TaskRecord>> | undefined
    let pending: Map<string, Pending> | undefined
    const runStates = new Map<RunId, RunState>()
    const taskOf = (runId: RunId, taskId: TaskId): Pending => {
      const key = runId + '\u0000' + taskId
      const p = pending?.get(key)
      if (p) return p
      const rec = this.runs.get(runId)?.tasks.get(taskId) ?? created?.get(runId)?.get(taskId)
      if (!rec) {
        if (!this.runs.has(runId) && !created?.has(runId)) throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
        throw new FlotillaError('STORE_CONFLICT', `Run "${runId}" has no task "${taskId}".`, { details: { runId, taskId } })
      }
      const fresh: Pending = { attempt: rec.attempt, running: rec.state === 'RUNNING', final: isFinalTaskState(rec.state) }
      ;(pending ??= new Map()).set(key, fresh)
      return fresh
    }
    for (const op of ops) {
      switch (op.op) {
        case 'run.create': {
          if (this.runs.has(op.run.id) || created?.has(op.run.id)) {
            throw new FlotillaError('STORE_CONFLICT', `Run "${op.run.id}" already exists.`, { details: { runId: op.run.id } })
          }
          const tasks = new Map<TaskId, TaskRecord>()
          for (const t of op.tasks) {
            if (tasks.has(t.taskId)) throw new FlotillaError('STORE_CONFLICT', `Run "${op.run.id}" lists task "${t.taskId}" twice.`, { details: { runId: op.run.id, taskId: t.taskId } })
            tasks.set(t.taskId, t)
          }
          ;(created ??= new Map()).set(op.run.id, tasks)
          runStates.set(op.run.id, op.run.state)
          break
        }
        case 'run.state': {
          const run = this.runs.get(op.runId)?.run
          if (!run && !created?.has(op.runId)) throw new FlotillaError('RUN_NOT_FOUND', `No run "${op.runId}" in the store.`, { details: { runId: op.runId } })
          const current = runStates.get(op.runId) ?? run!.state
          if (isFinalRunState(current) && current !== op.state) {
            throw new FlotillaError('STORE_CONFLICT', `Run "${op.runId}" is already ${current}; it cannot become ${op.state}.`, { details: { runId: op.runId, state: current } })
          }
          runStates.set(op.runId, op.state)
          break
        }
        case 'task.start': {
          const p = taskOf(op.runId, op.taskId)
          if (p.final || op.attempt <= p.attempt) {
            throw new FlotillaError('STORE_CONFLICT', `Task "${op.taskId}" of run "${op.runId}" cannot start attempt ${op.attempt} (stored attempt ${p.attempt}${p.final ? ', finished' : ''}).`, {
              details: { runId: op.runId, taskId: op.taskId, attempt: op.attempt, storedAttempt: p.attempt },
            })
          }
          p.attempt = op.attempt
          p.running = true
          break
        }
        case 'task.succeed':
        case 'task.fail': {
          const p = taskOf(op.runId, op.taskId)
          if (!p.running || p.final || op.attempt !== p.attempt) {
            throw new FlotillaError('STORE_CONFLICT', `Attempt ${op.attempt} of task "${op.taskId}" in run "${op.runId}" is stale (stored attempt ${p.attempt}); its result is discarded.`, {
              details: { runId: op.runId, taskId: op.taskId, attempt: op.attempt, storedAttempt: p.attempt },
            })
          }
          p.running = false
          p.final = op.op === 'task.succeed' || op.final
          break
        }
        case 'task.finish': {
          const p = taskOf(op.runId, op.taskId)
          if (p.final) throw new FlotillaError('STORE_CONFLICT', `Task "${op.taskId}" of run "${op.runId}" is already finished.`, { details: { runId: op.runId, taskId: op.taskId } })
          p.final = true
          p.running = false
          break
        }
      }
    }
  }

  private apply(op: StoreOp): void {
    switch (op.op) {
      case 'run.create': {
        const tasks = new Map<TaskId, TaskRecord>()
        const order: TaskRecord[] = new Array(op.tasks.length)
        for (let i = 0; i < op.tasks.length; i++) {
          const t = copy(op.tasks[i])
          tasks.set(t.taskId, t)
          order[i] = t
        }
        this.runs.set(op.run.id, { run: copy(op.run), tasks, order, events: [] })
        return
      }
      case 'run.state': {
        const run = this.runs.get(op.runId)!.run
        run.state = op.state
        if (op.state === 'RUNNING' && run.startedAt === undefined) run.startedAt = op.at
        if (isFinalRunState(op.state)) run.finishedAt = op.at
        if (op.error) run.error = copy(op.error)
        return
      }
      case 'task.start': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!
        t.state = 'RUNNING'
        t.attempt = op.attempt
        t.agent = op.agent
        t.startedAt = op.at
        return
      }
      case 'task.succeed': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!
        t.state = 'SUCCEEDED'
        t.output = copy(op.output)
        t.finishedAt = op.at
        t.error = undefined
        return
      }
      case 'task.fail': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!
        t.state = op.final ? 'FAILED' : 'RETRYING'
        t.error = copy(op.error)
        if (op.final) t.finishedAt = op.at
        return
      }
      case 'task.finish': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!
        t.state = op.state
        t.finishedAt = op.at
        return
      }
    }
  }
}

/** A deep copy of a JSON-like value (plain objects and arrays); fast for the small values tasks return. */
function copy<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) {
    const out = new Array(value.length)
    for (let i = 0; i < value.length; i++) out[i] = copy(value[i])
    return out as T
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return structuredClone(value)
  const out: Record<string, unknown> = {}
  for (const k in value) out[k] = copy((value as Record<string, unknown>)[k])
  return out as T
}
