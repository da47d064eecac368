import { FlotillaError } from '../../core/errors.js'
import { settingText, settingValue } from '../settings.js'
import type { RunEvent } from '../../core/events.js'
import type { RunId, TaskId } from '../../core/ids.js'
import { isFinalRunState, isFinalTaskState, type AgentState, type RunState } from '../../core/states.js'
import type {
  AgentFilter,
  AgentRecord,
  AgentTransition,
  RunFilter,
  RunRecord,
  StoreBatch,
  StoredEvent,
  StoreOp,
  TailOptions,
  TailPage,
  TaskRecord,
} from '../records.js'
import type { Store } from '../store.js'
import { MemoryAgents } from './memory-agents.js'
import { MemoryQueue, type MemoryRunView } from './memory-queue.js'
import { MemoryTailLog } from './memory-tail.js'
import type { TaskQueue } from '../queue.js'
import { systemClock, type Clock } from '../../core/clock.js'
import { refusedByRun, runRefusal } from '../fence.js'

interface RunEntry {
  run: RunRecord
  tasks: Map<TaskId, TaskSlot>
  order: TaskRecord[]
  /** The run's events; an event's `seq` is its index + 1. */
  events: RunEvent[]
  /** The process coordinating the run, and until when (wall-clock ms). */
  holder: string | undefined
  leaseUntil: number
}

/**
 * A stored task and the scratch state a batch sees while it is validated
 * (valid while `epoch` equals the batch number), so validation allocates
 * nothing per op.
 */
interface TaskSlot {
  rec: TaskRecord
  epoch: number
  attempt: number
  running: boolean
  retrying: boolean
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
  private readonly agents = new MemoryAgents()
  private readonly log = new MemoryTailLog()
  private closed = false
  private epoch = 0
  private exemplar: RunEntry | undefined
  private taskQueue: MemoryQueue | undefined
  private readonly settings = new Map<string, string>()
  private appendWatchers: (() => void)[] = []

  async commit(batch: StoreBatch): Promise<void> {
    this.commitSync(batch)
  }

  commitSync(batch: StoreBatch): void {
    this.assertOpen()
    const created = this.validate(batch.ops)
    for (const op of batch.ops) this.apply(op, created)
    this.append(batch.events)
  }

  private append(events: readonly RunEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const e: RunEvent = events[i]
      const entry = this.runs.get(e.runId)
      if (entry === undefined) continue
      const stored = e.type === 'task.log' && e.data !== undefined ? { ...e, data: copy(e.data) } : { ...e }
      this.log.add(e.runId, entry.events.push(stored), stored)
    }
    if (this.appendWatchers.length > 0 && events.length > 0) for (const w of this.appendWatchers) w()
  }

  /**
   * Calls `listener` after each commit or queue result that appended events
   * (synchronously: it should only schedule work, e.g. wake a reader of
   * {@link MemoryStore.tailEvents}); returns the function that removes it.
   * With none added, appending only checks an empty list.
   */
  onAppend(listener: () => void): () => void {
    this.appendWatchers = [...this.appendWatchers, listener]
    return () => {
      this.appendWatchers = this.appendWatchers.filter((w) => w !== listener)
    }
  }

  /** The task queue on this store (the same object on every call). */
  queue(clock: Clock = systemClock): TaskQueue {
    const view = (e: RunEntry): MemoryRunView => ({
      run: e.run,
      task: (taskId) => e.tasks.get(taskId)?.rec,
      get holder() {
        return e.holder
      },
      set holder(v) {
        e.holder = v
      },
      get leaseUntil() {
        return e.leaseUntil
      },
      set leaseUntil(v) {
        e.leaseUntil = v
      },
    })
    return (this.taskQueue ??= new MemoryQueue(
      {
        run: (runId) => {
          const e = this.runs.get(runId)
          return e === undefined ? undefined : view(e)
        },
        runs: () => [...this.runs.values()].map(view),
        append: (events) => this.append(events),
        copy,
      },
      clock,
    ))
  }

  async getRun(runId: RunId): Promise<RunRecord | undefined> {
    this.assertOpen()
    const entry = this.runs.get(runId)
    return entry ? structuredClone(entry.run) : undefined
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    this.assertOpen()
    const states =
      filter.state === undefined ? undefined : new Set(Array.isArray(filter.state) ? filter.state : [filter.state])
    const out: RunRecord[] = []
    for (const { run } of this.runs.values()) {
      if (states && !states.has(run.state)) continue
      if (filter.workflow !== undefined && run.workflow !== filter.workflow) continue
      if (filter.parentRunId !== undefined && run.parentRunId !== filter.parentRunId) continue
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
    return t ? structuredClone(t.rec) : undefined
  }

  async listEvents(runId: RunId, options: { afterSeq?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    this.assertOpen()
    const events = this.entry(runId).events
    const from = Math.max(0, options.afterSeq ?? 0)
    return structuredClone(
      events.slice(from, from + (options.limit ?? events.length)).map((event, k) => ({ seq: from + k + 1, event })),
    )
  }

  async tailEvents(options: TailOptions = {}): Promise<TailPage> {
    this.assertOpen()
    return this.log.tail(options)
  }

  async pruneRuns(finishedBefore: number): Promise<number> {
    this.assertOpen()
    let deleted = 0
    for (const [id, { run }] of this.runs) {
      if (isFinalRunState(run.state) && run.finishedAt !== undefined && run.finishedAt < finishedBefore) {
        // Keep one pruned entry: its objects keep their shapes (and the code optimised for them) alive.
        this.exemplar = this.runs.get(id)
        this.runs.delete(id)
        deleted++
      }
    }
    if (deleted > 0) this.log.prune((id) => !this.runs.has(id))
    return deleted
  }

  async saveAgent(
    record: AgentRecord,
    transition: { from: AgentState | null; to: AgentState; reason: string | null; at: number },
  ): Promise<void> {
    this.assertOpen()
    this.agents.save(record, transition)
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    this.assertOpen()
    return this.agents.get(id)
  }

  async getSetting(key: string): Promise<unknown> {
    this.assertOpen()
    return settingValue(this.settings.get(key))
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    this.assertOpen()
    this.settings.set(key, settingText(key, value))
  }

  async listAgents(filter?: AgentFilter): Promise<AgentRecord[]> {
    this.assertOpen()
    return this.agents.list(filter)
  }

  async listAgentTransitions(agentId: string): Promise<AgentTransition[]> {
    this.assertOpen()
    return this.agents.transitions(agentId)
  }

  async pruneAgents(before: number): Promise<number> {
    this.assertOpen()
    return this.agents.prune(before)
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
  private validate(ops: readonly StoreOp[]): Map<RunId, RunEntry> | undefined {
    const epoch = ++this.epoch
    let created: Map<RunId, RunEntry> | undefined
    let runStates: Map<RunId, RunState> | undefined
    const slotOf = (runId: RunId, taskId: TaskId): TaskSlot => {
      const entry = this.runs.get(runId) ?? created?.get(runId)
      if (entry === undefined)
        throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
      const slot = entry.tasks.get(taskId)
      if (slot === undefined)
        throw new FlotillaError('STORE_CONFLICT', `Run "${runId}" has no task "${taskId}".`, {
          details: { runId, taskId },
        })
      if (slot.epoch !== epoch) {
        slot.epoch = epoch
        slot.attempt = slot.rec.attempt
        slot.running = slot.rec.state === 'RUNNING'
        slot.retrying = slot.rec.state === 'RETRYING'
        slot.final = isFinalTaskState(slot.rec.state)
      }
      return slot
    }
    for (const op of ops) {
      switch (op.op) {
        case 'run.create': {
          if (this.runs.has(op.run.id) || created?.has(op.run.id)) {
            throw new FlotillaError('STORE_CONFLICT', `Run "${op.run.id}" already exists.`, {
              details: { runId: op.run.id },
            })
          }
          const tasks = new Map<TaskId, TaskSlot>()
          const order: TaskRecord[] = new Array(op.tasks.length)
          for (let i = 0; i < op.tasks.length; i++) {
            const rec = { ...op.tasks[i] } // fields are primitives until a task runs
            if (tasks.has(rec.taskId))
              throw new FlotillaError('STORE_CONFLICT', `Run "${op.run.id}" lists task "${rec.taskId}" twice.`, {
                details: { runId: op.run.id, taskId: rec.taskId },
              })
            tasks.set(rec.taskId, { rec, epoch: 0, attempt: 0, running: false, retrying: false, final: false })
            order[i] = rec
          }
          const run = { ...op.run, input: copy(op.run.input), error: copy(op.run.error) }
          ;(created ??= new Map()).set(op.run.id, {
            run,
            tasks,
            order,
            events: [],
            holder: op.holder,
            leaseUntil: op.leaseUntil ?? 0,
          })
          ;(runStates ??= new Map()).set(op.run.id, op.run.state)
          break
        }
        case 'run.state': {
          const run = this.runs.get(op.runId)?.run
          if (!run && !created?.has(op.runId))
            throw new FlotillaError('RUN_NOT_FOUND', `No run "${op.runId}" in the store.`, {
              details: { runId: op.runId },
            })
          const current = runStates?.get(op.runId) ?? run!.state
          if (isFinalRunState(current) && current !== op.state) {
            throw new FlotillaError(
              'STORE_CONFLICT',
              `Run "${op.runId}" is already ${current}; it cannot become ${op.state}.`,
              { details: { runId: op.runId, state: current } },
            )
          }
          ;(runStates ??= new Map()).set(op.runId, op.state)
          break
        }
        case 'run.summary':
          if (!this.runs.has(op.runId) && !created?.has(op.runId))
            throw new FlotillaError('RUN_NOT_FOUND', `No run "${op.runId}" in the store.`, {
              details: { runId: op.runId },
            })
          break
        case 'task.start': {
          const p = slotOf(op.runId, op.taskId)
          const rs = runStates?.get(op.runId) ?? this.runs.get(op.runId)!.run.state
          if (refusedByRun('task.start', rs)) throw runRefusal(op, rs)
          if (p.final || op.attempt <= p.attempt) {
            throw new FlotillaError(
              'STORE_CONFLICT',
              `Task "${op.taskId}" of run "${op.runId}" cannot start attempt ${op.attempt} (stored attempt ${p.attempt}${p.final ? ', finished' : ''}).`,
              {
                details: { runId: op.runId, taskId: op.taskId, attempt: op.attempt, storedAttempt: p.attempt },
              },
            )
          }
          p.attempt = op.attempt
          p.running = true
          break
        }
        case 'task.succeed':
        case 'task.fail': {
          const p = slotOf(op.runId, op.taskId)
          const rs = runStates?.get(op.runId) ?? this.runs.get(op.runId)!.run.state
          if (refusedByRun(op.op, rs)) throw runRefusal(op, rs)
          const settling = op.op === 'task.fail' && op.settle === true && p.retrying
          if ((!p.running && !settling) || p.final || op.attempt !== p.attempt) {
            throw new FlotillaError(
              'STORE_CONFLICT',
              `Attempt ${op.attempt} of task "${op.taskId}" in run "${op.runId}" is stale (stored attempt ${p.attempt}); its result is discarded.`,
              {
                details: { runId: op.runId, taskId: op.taskId, attempt: op.attempt, storedAttempt: p.attempt },
              },
            )
          }
          p.running = false
          p.final = op.op === 'task.succeed' || op.final
          p.retrying = !p.final
          break
        }
        case 'task.finish': {
          const p = slotOf(op.runId, op.taskId)
          if (p.final)
            throw new FlotillaError('STORE_CONFLICT', `Task "${op.taskId}" of run "${op.runId}" is already finished.`, {
              details: { runId: op.runId, taskId: op.taskId },
            })
          p.final = true
          p.running = false
          break
        }
      }
    }
    return created
  }

  private apply(op: StoreOp, created: Map<RunId, RunEntry> | undefined): void {
    switch (op.op) {
      case 'run.create':
        this.runs.set(op.run.id, created!.get(op.run.id)!)
        return
      case 'run.state': {
        const run = this.runs.get(op.runId)!.run
        run.state = op.state
        if (op.state === 'RUNNING' && run.startedAt === undefined) run.startedAt = op.at
        if (isFinalRunState(op.state)) run.finishedAt = op.at
        if (op.error) run.error = copy(op.error)
        return
      }
      case 'run.summary':
        this.runs.get(op.runId)!.run.summary = copy(op.summary)
        return
      case 'task.start': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!.rec
        t.state = 'RUNNING'
        t.attempt = op.attempt
        t.agent = op.agent
        t.startedAt = op.at
        return
      }
      case 'task.succeed': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!.rec
        t.state = 'SUCCEEDED'
        t.output = copy(op.output)
        t.finishedAt = op.at
        t.error = undefined
        if (op.model !== undefined) t.model = { ...op.model }
        return
      }
      case 'task.fail': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!.rec
        t.state = op.final ? 'FAILED' : 'RETRYING'
        t.error = copy(op.error)
        if (op.final) t.finishedAt = op.at
        if (op.model !== undefined) t.model = { ...op.model }
        return
      }
      case 'task.finish': {
        const t = this.runs.get(op.runId)!.tasks.get(op.taskId)!.rec
        t.state = op.state
        t.finishedAt = op.at
        return
      }
    }
  }
}

/** A deep copy of a JSON-like value (plain objects and arrays); fast for the small values tasks return. */
function copy<T>(value: T): T {
  // Frozen values (workflow definitions are deep-frozen) cannot change: share them.
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value
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
