import { FlotillaError } from '../core/errors.js'
import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type {
  AgentContext,
  AgentLogger,
  AttemptTrace,
  BudgetWarning,
  LogLevel,
  StoredTaskSpend,
  ToolBox,
  Workspace,
} from '../agents/context.js'
import {
  checkStepName,
  runStep,
  unavailableServices,
  type Journal,
  type ServiceMembers,
} from '../agents/service-members.js'
import type { RunEvent, ModelCallReport } from '../core/events.js'
import type { Store } from '../store/store.js'
import type { AttemptHandle } from './run-execution.js'

/** What a context reports back to the engine. */
export interface ContextSink {
  log(runId: RunId, taskId: TaskId, level: LogLevel, message: string, data: unknown): void
  progress(runId: RunId, taskId: TaskId, attempt: number, fraction: number, note: string | undefined): void
  /**
   * Adds an event to the run (a model call, a budget warning), written with
   * the attempt's other events. The event is the sink's from then on: it
   * dates it with its clock, in place.
   */
  emit?(event: RunEvent): void
  /** The model spend stored on the run's task records (a store read), when the engine has a store. */
  storedModelSpend?(runId: RunId): Promise<StoredTaskSpend[]>
  /** The outward services (messages, artifacts, cache, children) of an agent instance in a run, when the engine has them. */
  services?(instanceId: AgentId, runId: RunId, taskId: TaskId): ServiceMembers | undefined
  /** The journal of an agent instance's tasks (what `ctx.step` keeps), without building its other services. */
  journal?(instanceId: AgentId): Journal | undefined
}

const NO_SERVICES = unavailableServices(
  'This engine runs without messaging or a context store: use an Orchestrator, which provides them.',
)

const NO_WORKSPACE: Workspace = new Proxy({} as Workspace, {
  get(_target, key) {
    if (key === 'root') return ''
    return () =>
      Promise.reject(
        new FlotillaError(
          'AGENT_STATE_INVALID',
          'This agent has no workspace: only agents deployed with a spec (orchestrator.agents.deploy or `flotilla agent run`) get one.',
        ),
      )
  },
})

const NO_TOOLS: ToolBox = {
  names: [],
  call: (name) =>
    Promise.reject(
      new FlotillaError(
        'TOOL_NOT_FOUND',
        `This agent has no tool "${name}": tools belong to agents deployed with a spec that lists them.`,
        { details: { tool: name } },
      ),
    ),
}

/**
 * The context of one task attempt. The abort signal is made on first use, so
 * handlers that never look at it cost no controller.
 */
export class TaskContext implements AgentContext {
  /** Set by the tracing interceptor when the engine traces. */
  trace: AttemptTrace | undefined = undefined
  private _log: AgentLogger | undefined
  private _services: ServiceMembers | undefined
  /** True when the run is in debug mode (see {@link AgentContext.debug}). */
  debug = false
  /**
   * Whether `ctx.step` reads the journal on a first attempt too: on a
   * worker, an attempt released by a stopping worker is claimed again under
   * the same number, and what it kept must be found.
   */
  journalOnFirstAttempt = false

  constructor(
    private readonly sink: ContextSink,
    private readonly handle: AttemptHandle,
    readonly runId: RunId,
    readonly taskId: TaskId,
    readonly attempt: number,
    readonly instanceId: AgentId,
  ) {}

  get signal(): AbortSignal {
    return (this.handle.controller ??= new AbortController()).signal
  }

  get idempotencyKey(): string {
    return `${this.runId}:${this.taskId}`
  }

  private get services(): ServiceMembers {
    return (this._services ??= this.sink.services?.(this.instanceId, this.runId, this.taskId) ?? NO_SERVICES)
  }

  get workspace(): Workspace {
    return NO_WORKSPACE
  }

  get tools(): ToolBox {
    return NO_TOOLS
  }

  step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    const key = `${this.idempotencyKey}:${checkStepName(name)}`
    const journal =
      this.sink.journal?.(this.instanceId) ?? (this.services === NO_SERVICES ? undefined : this.services.journal)
    if (journal === undefined) return Promise.resolve().then(fn)
    return runStep(journal, key, fn, this.journalOnFirstAttempt || this.attempt > 1)
  }

  reportModelCall(report: ModelCallReport): void {
    // Field by field: a spread of the report would copy it through the slow path, once per model call.
    const event: RunEvent = {
      type: 'model.called',
      at: 0,
      runId: this.runId,
      taskId: this.taskId,
      attempt: this.attempt,
      agent: report.agent,
      model: report.model,
      call: report.call,
      usage: report.usage,
      costUsd: report.costUsd,
      durationMs: report.durationMs,
      replayed: report.replayed,
      finishReason: report.finishReason,
    }
    if (report.answer !== undefined) event.answer = report.answer
    if (report.prompt !== undefined) event.prompt = report.prompt
    this.sink.emit?.(event)
  }

  storedModelSpend(): Promise<StoredTaskSpend[] | undefined> {
    return this.sink.storedModelSpend?.(this.runId) ?? Promise.resolve(undefined)
  }

  reportBudgetWarning(w: BudgetWarning): void {
    this.sink.emit?.({ type: 'budget.warning', at: 0, runId: this.runId, taskId: this.taskId, ...w })
  }

  get artifacts(): ServiceMembers['artifacts'] {
    return this.services.artifacts
  }

  get cache(): ServiceMembers['cache'] {
    return this.services.cache
  }

  send(...args: Parameters<AgentContext['send']>): ReturnType<AgentContext['send']> {
    return this.services.send(...args)
  }

  request(...args: Parameters<AgentContext['request']>): ReturnType<AgentContext['request']> {
    return this.services.request(...args)
  }

  publish(...args: Parameters<AgentContext['publish']>): ReturnType<AgentContext['publish']> {
    return this.services.publish(...args)
  }

  subscribe(...args: Parameters<AgentContext['subscribe']>): ReturnType<AgentContext['subscribe']> {
    return this.services.subscribe(...args)
  }

  receive(...args: Parameters<AgentContext['receive']>): ReturnType<AgentContext['receive']> {
    return this.services.receive(...args)
  }

  ack(...args: Parameters<AgentContext['ack']>): ReturnType<AgentContext['ack']> {
    return this.services.ack(...args)
  }

  broadcast(...args: Parameters<AgentContext['broadcast']>): ReturnType<AgentContext['broadcast']> {
    return this.services.broadcast(...args)
  }

  spawn(...args: Parameters<AgentContext['spawn']>): ReturnType<AgentContext['spawn']> {
    return this.services.spawn(...args)
  }

  get log(): AgentLogger {
    if (this._log) return this._log
    const line = (level: LogLevel) => (message: string, data?: unknown) =>
      this.sink.log(this.runId, this.taskId, level, String(message), data)
    return (this._log = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') })
  }

  progress(fraction: number, note?: string): void {
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `ctx.progress needs a fraction between 0 and 1, got ${String(fraction)}.`,
        { details: { fraction: String(fraction) } },
      )
    }
    this.sink.progress(this.runId, this.taskId, this.attempt, fraction, note)
  }
}

/** The model spend a run's task records hold, for {@link ContextSink.storedModelSpend}. */
export async function storedSpendOf(store: Store, runId: RunId): Promise<StoredTaskSpend[]> {
  const out: StoredTaskSpend[] = []
  for (const t of await store.getTasks(runId))
    if (t.model !== undefined) out.push({ taskId: t.taskId, agent: t.agent, model: t.model })
  return out
}
