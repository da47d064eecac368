import { FlotillaError } from '../../core/errors.js'
import { settingText, settingValue } from '../settings.js'
import type { RunEvent } from '../../core/events.js'
import type { RunId, TaskId } from '../../core/ids.js'
import { isFinalRunState, type AgentState } from '../../core/states.js'
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
} from '../records.js'
import type { Store } from '../store.js'
import { MemoryAgents } from './memory-agents.js'
import { MemoryQueue, type MemoryRunView } from './memory-queue.js'
import { MemoryTailLog } from './memory-tail.js'
import type { TaskQueue } from '../queue.js'
import { systemClock, type Clock } from '../../core/clock.js'
import { applyOp, copy, validateBatch, type RunEntry } from './memory-batch.js'

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
    const created = validateBatch(this.runs, ++this.epoch, batch.ops)
    for (const op of batch.ops) applyOp(this.runs, op, created)
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
}
