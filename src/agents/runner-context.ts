/**
 * The {@link AgentContext} of one command run by an {@link AgentRunner}.
 * Built on every command, so it is a class whose costly parts (the abort
 * signal, the logger, the tool box, a synthetic run id) are made on first
 * use: a handler that never looks at them pays nothing for them.
 */
import { FlotillaError } from '../core/errors.js'
import { asAgentId, asRunId, asTaskId, newRunId, type AgentId, type RunId, type TaskId } from '../core/ids.js'
import type { PermissionSet } from '../security/permissions.js'
import type { AgentEvent } from './agent-event.js'
import type {
  AgentContext,
  AgentLogger,
  AttemptTrace,
  BudgetWarning,
  LogLevel,
  ModelAmounts,
  ToolBox,
  TreeBudgetHold,
} from './context.js'
import { traceContextOf, traceparentOf } from '../telemetry/trace-context.js'
import type { Span, SpanOptions, Tracer } from '../telemetry/telemetry.js'
import { checkStepName, runStep, serviceMembers, type ServiceCall, type ServiceMembers } from './service-members.js'
import type { ModelCallReport } from '../core/events.js'
import { createToolBox, type AnyToolDefinition } from './tools.js'
import type { FolderWorkspace } from './workspace.js'

/** What every command of one runner shares. */
export interface RunnerShared {
  readonly name: string
  readonly instanceId: string
  readonly services: ServiceMembers
  /** The raw service call, for per-command members (artifact lineage). */
  readonly call: ServiceCall
  readonly workspace: FolderWorkspace
  readonly tools: ReadonlyMap<string, AnyToolDefinition>
  readonly toolNames: readonly string[]
  readonly permissions: PermissionSet
  readonly onEvent: (event: AgentEvent) => void
  /** Set once the supervisor said the agent is in no budgeted tree: its model calls are not held. */
  readonly treeBudget: { none: boolean }
}

/**
 * One command in flight: its start time, and an abort signal made only when
 * someone asks for it (aborting before that just records the reason).
 */
export class RunningCommand {
  readonly started = performance.now()
  /** Why it was aborted, once it was. */
  reason: FlotillaError | undefined
  private controller: AbortController | undefined

  constructor(private readonly onAbort: (error: FlotillaError) => void) {}

  /** The signal handed to the handler and its tools. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.reason !== undefined) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  /** Aborts the command (once): the signal fires and the command rejects with `error`. */
  abort(error: FlotillaError): void {
    if (this.reason !== undefined) return
    this.reason = error
    this.controller?.abort(error)
    this.onAbort(error)
  }
}

/** Correlation of one command (from the caller, or made up). */
export interface CommandIds {
  readonly runId?: string
  readonly taskId?: string
  readonly attempt?: number
}

/** The context a handler receives for one command. */
export class RunnerContext implements AgentContext {
  /** The command's span, when the caller sent a `traceparent`. */
  trace: AttemptTrace | undefined = undefined
  readonly attempt: number
  readonly taskId: TaskId
  private _runId: RunId | undefined
  private _log: AgentLogger | undefined
  private _tools: ToolBox | undefined
  private _artifacts: ServiceMembers['artifacts'] | undefined

  constructor(
    private readonly shared: RunnerShared,
    private readonly command: RunningCommand,
    private readonly ids: CommandIds,
    seq: number,
  ) {
    this.attempt = ids.attempt ?? 1
    this.taskId = asTaskId(ids.taskId ?? `command-${seq}`)
  }

  get signal(): AbortSignal {
    return this.command.signal
  }

  get runId(): RunId {
    return (this._runId ??= asRunId(this.ids.runId ?? newRunId()))
  }

  get idempotencyKey(): string {
    return `${this.runId}:${this.taskId}`
  }

  get instanceId(): AgentId {
    return asAgentId(this.shared.instanceId)
  }

  get log(): AgentLogger {
    if (this._log) return this._log
    const { shared } = this
    const line = (level: LogLevel) => (message: string, data?: unknown) =>
      shared.onEvent({
        type: 'log',
        data: {
          agent: shared.name,
          level,
          message: String(message),
          ...(data === undefined ? {} : { data }),
          runId: this.runId,
          taskId: this.taskId,
        },
      })
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
    const { shared } = this
    shared.onEvent({
      type: 'progress',
      data: {
        agent: shared.name,
        fraction,
        ...(note === undefined ? {} : { note }),
        runId: this.runId,
        taskId: this.taskId,
        attempt: this.attempt,
      },
    })
  }

  get workspace(): FolderWorkspace {
    return this.shared.workspace
  }

  get tools(): ToolBox {
    const s = this.shared
    return (this._tools ??= createToolBox({
      tools: s.tools,
      names: s.toolNames,
      permissions: s.permissions,
      agent: s.name,
      instanceId: s.instanceId,
      workspace: s.workspace,
      signal: this.signal,
      onEvent: s.onEvent,
    }))
  }

  /** Artifacts written in a command with a run and task (a workflow task) record them as lineage. */
  get artifacts(): ServiceMembers['artifacts'] {
    const { runId, taskId } = this.ids
    if (runId === undefined && taskId === undefined) return this.shared.services.artifacts
    return (this._artifacts ??= serviceMembers(this.shared.call, undefined, {
      ...(runId === undefined ? {} : { runId }),
      ...(taskId === undefined ? {} : { taskId }),
    }).artifacts)
  }

  get cache(): ServiceMembers['cache'] {
    return this.shared.services.cache
  }

  send(...args: Parameters<AgentContext['send']>): ReturnType<AgentContext['send']> {
    return this.shared.services.send(...args)
  }

  request(...args: Parameters<AgentContext['request']>): ReturnType<AgentContext['request']> {
    return this.shared.services.request(...args)
  }

  publish(...args: Parameters<AgentContext['publish']>): ReturnType<AgentContext['publish']> {
    return this.shared.services.publish(...args)
  }

  subscribe(...args: Parameters<AgentContext['subscribe']>): ReturnType<AgentContext['subscribe']> {
    return this.shared.services.subscribe(...args)
  }

  receive(...args: Parameters<AgentContext['receive']>): ReturnType<AgentContext['receive']> {
    return this.shared.services.receive(...args)
  }

  ack(...args: Parameters<AgentContext['ack']>): ReturnType<AgentContext['ack']> {
    return this.shared.services.ack(...args)
  }

  broadcast(...args: Parameters<AgentContext['broadcast']>): ReturnType<AgentContext['broadcast']> {
    return this.shared.services.broadcast(...args)
  }

  /** A spawn in a command with a run and task (a workflow task) names them: a template's agent runs as a child run of that task. */
  spawn(...args: Parameters<AgentContext['spawn']>): ReturnType<AgentContext['spawn']> {
    const { runId, taskId } = this.ids
    if (runId === undefined || taskId === undefined) return this.shared.services.spawn(...args)
    return serviceMembers(this.shared.call, undefined, { runId, taskId }).spawn(...args)
  }

  step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    return runStep(this.shared.services.journal, `${this.idempotencyKey}:${checkStepName(name)}`, fn, this.attempt > 1)
  }

  reportModelCall(report: ModelCallReport): void {
    this.shared.onEvent({
      type: 'model.called',
      data: { ...report, runId: this.runId, taskId: this.taskId, attempt: this.attempt },
    })
  }

  reportBudgetWarning(warning: BudgetWarning): void {
    this.shared.onEvent({ type: 'budget.warning', data: { ...warning, runId: this.runId, taskId: this.taskId } })
  }

  async holdTreeBudget(worst: ModelAmounts): Promise<TreeBudgetHold | undefined> {
    const { treeBudget, call } = this.shared
    if (treeBudget.none) return undefined
    const held = await call('budget.hold', { tokens: worst.tokens, costUsd: worst.costUsd })
    if (held === null) {
      treeBudget.none = true
      return undefined
    }
    return {
      settle: async (used) => {
        await call('budget.settle', { id: held.id, used: { tokens: used.tokens, costUsd: used.costUsd } })
      },
      release: async () => {
        await call('budget.settle', { id: held.id })
      },
    }
  }
}

/**
 * Gives a command its trace: with a tracer, a span `flotilla.agent.execute`
 * (the child of the caller's `traceparent`, returned to be ended) that
 * `ctx.trace` starts children of; without one, `ctx.trace` passes the
 * caller's `traceparent` on and starts nothing.
 */
export function traceCommand(
  tracer: Tracer | undefined,
  ctx: RunnerContext,
  agent: string,
  traceparent: string,
): Span | undefined {
  if (tracer === undefined) {
    const none = noSpan(traceparent)
    ctx.trace = { traceparent, startSpan: () => none }
    return undefined
  }
  const span = tracer.startSpan(
    'flotilla.agent.execute',
    {
      kind: 1,
      attributes: {
        'flotilla.agent': agent,
        'flotilla.run_id': ctx.runId,
        'flotilla.task_id': ctx.taskId,
        'flotilla.attempt': ctx.attempt,
        'flotilla.instance_id': ctx.instanceId,
      },
    },
    traceContextOf(traceparent),
  )
  ctx.trace = {
    traceparent: traceparentOf(span) ?? traceparent,
    startSpan: (name: string, options?: SpanOptions) => tracer.startSpan(name, options, traceContextOf(span)),
  }
  return span
}

/** A span that records nothing, carrying the caller's ids. */
function noSpan(traceparent: string): Span {
  const [, traceId = '', spanId = '', flags = '0'] = traceparent.split('-')
  const span: Span = {
    spanContext: () => ({ traceId, spanId, traceFlags: parseInt(flags, 16) }),
    setAttribute: () => span,
    setStatus: () => span,
    recordException: () => undefined,
    end: () => undefined,
  }
  return span
}
