/**
 * The agent runner: loads an agent from its spec's module, runs its
 * `initialize`, then executes commands with a full {@link AgentContext}.
 * Both runtimes use it (the `inprocess` one directly, the `process` one
 * inside the child process), so an agent behaves the same in either.
 */
import { FlotillaError, serializeError, toFlotillaError } from '../core/errors.js'
import type { BusEvent, EventFilter, EventHandler, Subscription } from '../messaging/bus.js'
import { PermissionSet } from '../security/permissions.js'
import type { AnyAgentDefinition } from './define-agent.js'
import { llmAgentFromSpec } from './llm-spec.js'
import { loadAgentDefinition, loadTools } from './runner-load.js'
import { RunnerContext, RunningCommand, traceCommand, type RunnerShared } from './runner-context.js'
import type { Span, Tracer } from '../telemetry/telemetry.js'
import { serviceMembers, type ServiceCall } from './service-members.js'
import type { AnyToolDefinition } from './tools.js'
import { FolderWorkspace } from './workspace.js'
import { abortError, type AgentRunnerOptions, type RunnerExecuteOptions, type RunnerHooks } from './runner-options.js'

export type { AgentRunnerOptions, RunnerExecuteOptions, RunnerHooks } from './runner-options.js'

/**
 * Runs one agent: the seed's AgentRunner. {@link AgentRunner.start} loads
 * and initialises it; {@link AgentRunner.execute} runs one command;
 * {@link AgentRunner.stop} aborts what is in flight and refuses the rest.
 *
 * @example
 * ```ts
 * const runner = await AgentRunner.start({ instanceId: 'agt_1', module: '/srv/agents/echo.mjs', workspace: '/tmp/agt_1', hooks: { onEvent: console.log, call: () => Promise.reject(new Error('no services')) } })
 * await runner.execute({ text: 'hi' })
 * runner.stop()
 * ```
 */
export class AgentRunner {
  /** The instance id. */
  readonly instanceId: string
  /** The agent's name (the spec's, else the definition's). */
  readonly name: string
  private readonly shared: RunnerShared
  private readonly tracer: Tracer | undefined
  private readonly inFlight = new Set<RunningCommand>()
  private readonly waiting: { resolve: () => void; reject: (e: FlotillaError) => void }[] = []
  /** The handlers of the agent's event subscriptions, by subscription id. */
  private readonly handlers = new Map<string, EventHandler>()
  private subscriptionSeq = 0
  private finishedMs = 0
  private active = 0
  private seq = 0
  private stopped: FlotillaError | undefined

  private constructor(
    /** The agent definition being run. */
    readonly definition: AnyAgentDefinition,
    /** The agent's workspace. */
    readonly workspace: FolderWorkspace,
    tools: ReadonlyMap<string, AnyToolDefinition>,
    toolNames: readonly string[],
    permissions: PermissionSet,
    hooks: RunnerHooks,
    options: AgentRunnerOptions,
  ) {
    this.instanceId = options.instanceId
    this.tracer = options.tracer
    this.name = options.name ?? definition.name
    const call = ((op: string, args: unknown) => hooks.call(op, args)) as ServiceCall
    this.shared = {
      name: this.name,
      instanceId: this.instanceId,
      call,
      services: serviceMembers(call, (type, filter, handler) => this.subscribe(type, filter, handler)),
      workspace,
      tools,
      toolNames,
      permissions,
      treeBudget: { none: false },
      onEvent: (e) => {
        try {
          hooks.onEvent(e)
        } catch {
          // a failing observer must not fail the agent
        }
      },
    }
  }

  /**
   * Loads the agent and its tools, opens its workspace and runs its
   * `initialize` hook. Any failure (missing module or export, an export that
   * is not an agent, a missing tool, `initialize` throwing) is
   * `AGENT_DEPLOY_FAILED`.
   */
  static async start(options: AgentRunnerOptions): Promise<AgentRunner> {
    const names = [...(options.tools ?? [])]
    let definition: AnyAgentDefinition
    let tools: Map<string, AnyToolDefinition>
    if (options.model !== undefined) {
      tools = await loadTools(names, options.toolsModule, {}, options.toolsModule ?? '(no module: set "toolsModule")')
      definition = llmAgentFromSpec(options.name ?? 'agent', options.model, [...tools.values()])
    } else {
      const loaded = await loadAgentDefinition(options.module, options.exportName ?? 'default')
      definition = loaded.definition
      tools = await loadTools(names, options.toolsModule, loaded.exports, options.module)
    }
    const name = options.name ?? definition.name
    const permissions = new PermissionSet(options.permissions ?? [])
    let workspace: FolderWorkspace
    try {
      workspace = await FolderWorkspace.open({
        root: options.workspace,
        permissions,
        agent: name,
        storageMb: options.limits?.storageMb,
        onEvent: (e) => options.hooks.onEvent(e),
        onLimitExceeded: options.onLimitExceeded,
      })
    } catch (e) {
      throw new FlotillaError(
        'AGENT_DEPLOY_FAILED',
        `Cannot open the workspace ${options.workspace} of agent "${name}": ${(e as Error).message}`,
        { cause: e, details: { workspace: options.workspace } },
      )
    }
    try {
      await definition.initialize?.()
    } catch (e) {
      const cause = serializeError(e)
      throw new FlotillaError('AGENT_DEPLOY_FAILED', `Agent "${name}" failed its initialize hook: ${cause.message}`, {
        cause: e,
        details: { agent: name, cause },
      })
    }
    return new AgentRunner(definition, workspace, tools, names, permissions, options.hooks, options)
  }

  /** Commands running now. */
  get activeCommands(): number {
    return this.inFlight.size
  }

  /** Milliseconds spent in handlers since start, counting commands still running (overlapping commands each count). */
  get handlerMs(): number {
    let ms = this.finishedMs
    if (this.inFlight.size > 0) {
      const now = performance.now()
      for (const c of this.inFlight) ms += now - c.started
    }
    return ms
  }

  /** Applies a new storage limit to the workspace (`undefined`: unlimited). */
  setStorageLimit(storageMb: number | undefined): void {
    this.workspace.setStorageLimit(storageMb)
  }

  /** Runs the agent's health check: `healthy: false` when it throws or returns false. */
  async health(): Promise<{ healthy: boolean; detail?: string }> {
    if (this.stopped) return { healthy: false, detail: this.stopped.message }
    try {
      const r = await this.definition.healthCheck?.()
      if (r === undefined || r === true) return { healthy: true }
      if (r === false) return { healthy: false, detail: 'the health check returned false' }
      return r.detail === undefined ? { healthy: r.healthy } : { healthy: r.healthy, detail: r.detail }
    } catch (e) {
      return { healthy: false, detail: e instanceof Error ? e.message : String(e) }
    }
  }

  /**
   * Runs one command: validates `input` (`AGENT_INPUT_INVALID`), calls the
   * handler with a fresh context, validates its output
   * (`AGENT_OUTPUT_INVALID`). A handler's plain `Error` becomes
   * `TASK_FAILED`; a FlotillaError keeps its code. A timeout or abort
   * rejects at once (the handler is told through `ctx.signal`). Beyond the
   * definition's `maxConcurrency`, commands wait their turn.
   */
  async execute(input: unknown, options: RunnerExecuteOptions = {}): Promise<unknown> {
    if (this.stopped) throw this.stopped
    if (options.signal?.aborted) throw abortError(options.signal.reason)
    const def = this.definition
    let value = input
    if (def.input !== undefined) {
      const parsed = def.input.safeParse(input)
      if (!parsed.success) {
        const issue = parsed.error.issues[0]
        const path = issue?.path.map(String).join('.') || '(root)'
        throw new FlotillaError(
          'AGENT_INPUT_INVALID',
          `Input for agent "${this.name}" is invalid at "${path}": ${issue?.message ?? 'invalid'}. Fix the command's input.`,
          { details: { agent: this.name, path } },
        )
      }
      value = parsed.data
    }
    if (this.active >= def.maxConcurrency) {
      await this.slot()
      if (options.signal?.aborted) {
        this.release()
        throw abortError(options.signal.reason)
      }
    } else this.active++
    let resolve!: (value: unknown) => void
    let reject!: (error: FlotillaError) => void
    const result = new Promise<unknown>((res, rej) => {
      resolve = res
      reject = rej
    })
    const command = new RunningCommand(reject)
    this.inFlight.add(command)
    const external = options.signal
    const forward = external === undefined ? undefined : () => command.abort(abortError(external.reason))
    if (forward) external?.addEventListener('abort', forward, { once: true })
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              command.abort(
                new FlotillaError(
                  'TASK_TIMEOUT',
                  `Agent "${this.name}" did not finish the command within ${options.timeoutMs} ms; raise timeoutMs or make it faster.`,
                  { details: { agent: this.name, timeoutMs: options.timeoutMs } },
                ),
              ),
            options.timeoutMs,
          )
    const fail = (e: unknown): void => reject(toFlotillaError(e, 'TASK_FAILED'))
    let span: Span | undefined
    try {
      let out: unknown
      try {
        const ctx = new RunnerContext(this.shared, command, options, ++this.seq)
        if (options.traceparent !== undefined) span = traceCommand(this.tracer, ctx, this.name, options.traceparent)
        out = def.handler(value as never, ctx)
        Promise.resolve(out)
          .then((o) => resolve(this.checkOutput(o)))
          .catch(fail)
      } catch (e) {
        fail(e)
      }
      const output = await result
      span?.setStatus({ code: 1 })
      return output
    } catch (e) {
      span?.recordException(e instanceof Error ? e : String(e))
      span?.setStatus({ code: 2, message: e instanceof Error ? e.message : String(e) })
      throw e
    } finally {
      span?.end()
      if (timer !== undefined) clearTimeout(timer)
      if (forward) external?.removeEventListener('abort', forward)
      this.inFlight.delete(command)
      this.finishedMs += performance.now() - command.started
      this.release()
    }
  }

  /**
   * Hands an event of the subscription `subscriptionId` to its handler (see
   * `ctx.subscribe`). An unknown or ended subscription, or a stopped runner,
   * drops it; a handler's failure goes to the agent's log, never further.
   */
  deliver(subscriptionId: string, event: BusEvent): void {
    const handler = this.stopped ? undefined : this.handlers.get(subscriptionId)
    if (handler === undefined) return
    const report = (e: unknown): void => {
      const message = `The handler of subscription ${subscriptionId} to "${event.type}" failed: ${e instanceof Error ? e.message : String(e)}`
      this.shared.onEvent({
        type: 'log',
        data: {
          agent: this.name,
          level: 'error',
          message,
          data: { subscriptionId, eventId: event.id, eventType: event.type },
        },
      })
    }
    try {
      Promise.resolve(handler(event)).catch(report)
    } catch (e) {
      report(e)
    }
  }

  /**
   * Stops the runner: every command in flight is aborted and rejects with
   * `error`, every later command is refused with it, and no event reaches a
   * subscription handler any more.
   */
  stop(
    error: FlotillaError = new FlotillaError(
      'AGENT_TERMINATED',
      `Agent "${this.name}" was stopped; it takes no more commands.`,
      { details: { agent: this.name } },
    ),
  ): void {
    if (this.stopped) return
    this.stopped = error
    this.handlers.clear()
    for (const c of this.inFlight) c.abort(error)
    for (const w of this.waiting.splice(0)) w.reject(error)
  }

  /** `ctx.subscribe`: keeps the handler under a new id, then asks the services to subscribe for it. */
  private async subscribe(type: string, filter: EventFilter | undefined, handler: EventHandler): Promise<Subscription> {
    if (this.stopped) throw this.stopped
    if (typeof handler !== 'function')
      throw new FlotillaError('VALIDATION_FAILED', 'ctx.subscribe needs a handler function.', {
        details: { field: 'handler' },
      })
    const subscriptionId = `${this.instanceId}.sub-${++this.subscriptionSeq}`
    this.handlers.set(subscriptionId, handler) // before the reply: an event may arrive first
    try {
      await this.shared.call('subscribe', { type, ...(filter === undefined ? {} : { filter }), subscriptionId })
    } catch (e) {
      this.handlers.delete(subscriptionId)
      throw e
    }
    let ended = false
    return {
      unsubscribe: async () => {
        if (ended) return
        ended = true
        this.handlers.delete(subscriptionId)
        await this.shared.call('unsubscribe', { subscriptionId })
      },
    }
  }

  /** Waits for a free slot; it is counted in `active` when granted. */
  private slot(): Promise<void> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  /** Frees a slot, handing it to the oldest waiting command. */
  private release(): void {
    const next = this.waiting.shift()
    if (next) next.resolve()
    else this.active--
  }

  private checkOutput(output: unknown): unknown {
    const schema = this.definition.output
    if (schema === undefined) return output
    const parsed = schema.safeParse(output)
    if (parsed.success) return parsed.data
    const issue = parsed.error.issues[0]
    const path = issue?.path.map(String).join('.') || '(root)'
    throw new FlotillaError(
      'AGENT_OUTPUT_INVALID',
      `Agent "${this.name}" returned output that fails its schema at "${path}": ${issue?.message ?? 'invalid'}. Fix the handler or the output schema.`,
      {
        details: { agent: this.name, path },
      },
    )
  }
}
