import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { EventOf, FlotillaEvent, FlotillaEventType, RunCancelledEvent } from '../core/events.js'
import { asRunId, newAgentId, newRunId, type RunId } from '../core/ids.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import { isAgentTemplate, type AgentTemplate } from '../agents/agent-template.js'
import { openStore } from '../store/open-store.js'
import type { RunFilter, RunRecord, StoredEvent, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import type { AgentInstance } from '../registry/agent-instance.js'
import { Registry } from '../registry/registry.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import { Engine } from '../workflows/engine.js'
import type { RunResult } from '../workflows/results.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { BUILTIN_AGENTS } from '../workflows/patterns/builtin-agents.js'
import { HealthMonitor } from '../registry/health/health-monitor.js'
import { discoverAgents, type AgentDiscoveryReport } from '../registry/discovery/discover-agents.js'
import { discoverWorkflows, type WorkflowDiscoveryReport } from '../workflows/discovery.js'
import { ExecutionHistory } from '../registry/health/history.js'
import { AnomalyDetector } from '../registry/health/anomaly.js'
import { agentGraph, type AgentGraph } from '../registry/health/agent-graph.js'
import { EventHub, type Listener } from './event-hub.js'
import type { ReplayOptions } from './replay.js'
import { resolveOrchestratorOptions, type OrchestratorOptions, type ResolvedOptions } from './options.js'
import { Team } from './team.js'
import { localHolderId, RunLeases } from './leases.js'
import type { Autoscaler } from './autoscaler.js'
import { hubAutoscaler, registeredTarget } from './scaling-targets.js'
import { composeInterceptors } from '../workflows/invoker.js'
import type { Bus } from '../messaging/bus.js'
import { ContextStore } from '../context/context-store.js'
import { SqliteContextBackend } from '../context/sqlite/sqlite-context-backend.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import { openBackend, type Backend, type OpenBackendOptions } from './backend.js'
import { errorFields, resolveTelemetry } from '../telemetry/telemetry.js'
import { Authorizer } from '../security/authorizer.js'
import { lifecycleTelemetry, modelTelemetry, telemetryInterceptors } from './telemetry-interceptors.js'
import { RunTracing } from './run-tracing.js'
import type { DeployedAgents } from './deployed-agents.js'
import { ChildRuns } from './child-runs.js'
import type { ControlOptions, RunHandle, RunOptions } from './run-handle.js'
import { RunControl, runDebug } from './run-control.js'
import { attachAlerts } from './dead-letters.js'

export type { ControlOptions, RunOptions, RunHandle } from './run-handle.js'

/**
 * The facade: registers agents, starts, pauses, resumes and cancels runs,
 * and exposes events and metrics. It wires the registry, the scheduler and
 * the store, and holds no scheduling logic of its own.
 *
 * @example
 * ```ts
 * const orchestrator = new Orchestrator()
 * await orchestrator.register(defineAgent({ name: 'double', handler: (x: number) => x * 2 }))
 * const wf = workflow('demo').task('a', { agent: 'double', input: 21 }).build()
 * const result = await orchestrator.run(wf)
 * console.log(result.output('a')) // 42
 * ```
 */
export class Orchestrator {
  /** The agents and their instances. */
  readonly registry: Registry
  /** Where runs are stored. */
  readonly store: Store
  readonly clock: Clock
  /** Health states and self-healing of agent instances; `start()` it, or pass `health: { autoStart: true }`. */
  readonly health: HealthMonitor
  /** Recent executions per agent (`name@version`), bounded. */
  readonly history = new ExecutionHistory()
  /** Flags agents whose latency or error rate departs from their own baseline (`anomalies.onAnomaly(listener)`). */
  readonly anomalies: AnomalyDetector
  /** Deployed agents: deploy from a spec, command, pause, scale, terminate, trees, permissions, usage. */
  readonly agents: DeployedAgents
  /**
   * Auto-scaling of the agents registered or deployed with `scaling`:
   * `scaling.check()` runs a check now; changes are `agent.scaled` events.
   */
  readonly scaling: Autoscaler
  /** The message bus agents talk over (`ctx.send`, `ctx.request`, `ctx.publish`…). */
  readonly bus: Bus
  /** Shared versioned artifacts and the short-lived cache (`ctx.artifacts`, `ctx.cache`). */
  readonly context: ContextStore
  /** The journal of durable steps, when this orchestrator opened its SQLite store itself. */
  private readonly journal: ContextStore | undefined
  /** Makes every permission decision of agents' services; `authorizer.onDecision(listener)` hears them (e.g. to audit). */
  readonly authorizer: Authorizer
  private readonly team: Team
  /** The backend given in the options (closed with the orchestrator). */
  private readonly backend: Backend | undefined
  private readonly options: ResolvedOptions
  private readonly engine: Engine
  /** Leases of the runs executing here (durable stores only). */
  private readonly leases: RunLeases | undefined
  private readonly hub: EventHub
  private readonly tracing: RunTracing | undefined
  /** Recovery, replay and control of runs, here or only stored. */
  private readonly control: RunControl
  private readonly templates = new Map<string, Workflow>()
  /** Plans run as child runs; agents spawned from templates. */
  private readonly children: ChildRuns
  private closed = false
  private pruneTimer: NodeJS.Timeout | undefined
  private readonly detachAlerts: (() => void) | undefined
  /** The built-in agents patterns compile to, registered at construction (awaited by register, run, recover, replay). */
  private readonly builtins: Promise<void>

  /**
   * Opens the backend a URL names ({@link openBackend}) and an orchestrator
   * on it: with `postgres://…` runs, queue, messages and artifacts are all
   * shared through the database. Closing the orchestrator closes the backend.
   *
   * @example
   * ```ts
   * const orchestrator = await Orchestrator.open('memory')
   * await orchestrator.close()
   * ```
   */
  static async open(
    url?: string,
    options: Omit<OrchestratorOptions, 'store' | 'backend'> & Pick<OpenBackendOptions, 'cwd' | 'postgres'> = {},
  ): Promise<Orchestrator> {
    const { cwd, postgres, ...rest } = options
    const backend = await openBackend(url, { clock: options.clock, cwd, postgres })
    try {
      return new Orchestrator({ ...rest, backend })
    } catch (e) {
      await backend.close()
      throw e
    }
  }

  constructor(options: OrchestratorOptions = {}) {
    this.options = resolveOrchestratorOptions(options)
    const telemetry = resolveTelemetry(options.telemetry)
    const logger = telemetry.logger
    this.hub = new EventHub(logger)
    const models = modelTelemetry(options.telemetry, telemetry)
    if (models !== undefined) this.hub.on('model.called', models)
    const lifecycle = lifecycleTelemetry(options.telemetry, telemetry)
    if (lifecycle !== undefined) this.hub.on('*', lifecycle)
    const tracing = (this.tracing = telemetry.tracing ? new RunTracing(telemetry.tracer) : undefined)
    if (tracing !== undefined) this.hub.on('*', tracing.onEvent)
    this.clock = options.clock ?? systemClock
    this.anomalies = new AnomalyDetector({ clock: this.clock, ...options.anomalies })
    const backend = (this.backend = options.backend)
    const authorizer = (this.authorizer = options.authorizer ?? new Authorizer())
    this.store = backend?.store ?? (typeof options.store === 'object' ? options.store : openStore(options.store))
    tracing?.watch(this.store)
    this.registry = new Registry({
      clock: this.clock,
      strategy: this.options.loadBalancing,
      circuitBreaker: this.options.circuitBreaker,
    })
    // A SQLite file opened here (the default store) keeps the journal of durable steps too, so that model calls and
    // ctx.step results survive a crash and `recover()` replays them; artifacts stay where `context` says.
    const file =
      backend === undefined &&
      options.context === undefined &&
      typeof options.store !== 'object' &&
      this.store instanceof SqliteStore
        ? this.store.path
        : ':memory:'
    this.journal =
      file === ':memory:'
        ? undefined
        : new ContextStore(SqliteContextBackend.open({ path: file }), { clock: this.clock, authorizer })
    this.team = new Team({
      ...(this.journal === undefined ? {} : { journal: this.journal.journal }),
      store: this.store,
      registry: this.registry,
      clock: this.clock,
      runtimes: options.runtimes,
      workspaceRoot: options.workspaceRoot ?? '.flotilla/agents',
      bus: options.bus ?? backend?.bus,
      meter: options.telemetry?.meter,
      queueDepth: { worker: 'orchestrator', depth: () => this.engine.queued },
      context:
        options.context ??
        (backend === undefined ? undefined : new ContextStore(backend.context, { clock: this.clock, authorizer })),
      logger,
      authorizer,
      onEvent: (e) => this.hub.deliver([e]),
      spawnTemplate: (parent, request, lineage) => this.children.spawn(parent, request, lineage),
    })
    ;({ bus: this.bus, context: this.context, agents: this.agents } = this.team)
    this.children = new ChildRuns({
      store: this.store,
      registry: this.registry,
      maxPlanTasks: this.options.maxPlanTasks,
      start: (wf, input, ids) => (this.assertOpen(), this.control.startChild(wf, input, ids)),
      resume: (id) => this.control.resumeChild(id),
      cancel: (id, reason) => this.cancel(id, reason),
    })
    const queue = this.store.durable && this.store.queue !== undefined ? this.store.queue(this.clock) : undefined
    const lease =
      queue === undefined ? undefined : { holder: localHolderId(newAgentId().slice(4)), ms: this.options.leaseMs }
    this.engine = new Engine({
      invoke: composeInterceptors([
        ...telemetryInterceptors(options.telemetry, telemetry, tracing),
        ...(options.interceptors ?? []),
        this.children.interceptor,
      ]),
      lease,
      ...(tracing === undefined
        ? {}
        : { traceRun: (runId: RunId, workflow: string) => tracing.startRun(runId, workflow) }),
      store: this.team.runStore,
      registry: this.registry,
      clock: this.clock,
      concurrency: this.options.concurrency,
      capabilityConcurrency: this.options.capabilityConcurrency,
      progressIntervalMs: this.options.progressIntervalMs,
      random: options.random ?? Math.random,
      deliver: options.busEvents
        ? (events) => (this.hub.deliver(events), this.team.forward(events))
        : (events) => this.hub.deliver(events),
      services: (instanceId, runId, taskId) => this.team.services(instanceId, runId, taskId),
      observe: (e) => {
        const agent = e.instance.key
        this.history.record(agent, {
          runId: e.runId,
          taskId: e.taskId,
          attempt: e.attempt,
          startedAt: this.clock.wallNow() - e.durationMs,
          durationMs: e.durationMs,
          ok: e.ok,
          errorCode: e.errorCode,
        })
        this.anomalies.observe(agent, e.durationMs, e.ok)
      },
    })
    if (queue !== undefined && lease !== undefined) {
      this.leases = new RunLeases(this.store, queue, this.engine, lease.holder, lease.ms, logger)
      this.leases.start()
    }
    this.control = new RunControl({
      store: this.store,
      engine: this.engine,
      leases: this.leases,
      hub: this.hub,
      clock: this.clock,
      summaryModel: options.summaryModel,
      logger,
    })
    this.hub.on('run.cancelled', (e) => {
      const { runId, reason } = e as RunCancelledEvent
      void this.children.cancelChildren(runId, reason)
    })
    const { autoStart = false, ...healthOptions } = options.health ?? {}
    this.health = new HealthMonitor(this.registry, { clock: this.clock, ...healthOptions })
    this.health.onTransition((t) => this.hub.deliver([{ type: 'agent.health', ...t }]))
    this.anomalies.onAnomaly((a) => this.hub.deliver([{ type: 'agent.anomaly', ...a }]))
    if (autoStart) this.health.start()
    this.scaling = hubAutoscaler(this.clock, this.options.scalingIntervalMs, this.hub, logger)
    this.agents.scaling.use(this.scaling, this.engine)
    this.detachAlerts = attachAlerts(options.alerts, this.hub, this.bus, this.registry)
    this.builtins = Promise.all(BUILTIN_AGENTS.map((d) => this.registry.register(d))).then(() => undefined)
    const retention = this.options.retention
    if (retention !== undefined) {
      const prune = (): void => {
        this.prune(retention.maxAgeMs).catch((e: unknown) =>
          logger.error(errorFields(e), 'periodic prune of finished runs failed; the next one tries again'),
        )
      }
      prune()
      // Not a reason to keep the process alive.
      this.pruneTimer = setInterval(prune, retention.intervalMs).unref()
    }
  }

  /**
   * Registers an agent and starts its instances (runs `initialize`). It also
   * answers bus requests addressed to its name (`ctx.request(name, input)`):
   * each request runs it as a one-task run. An agent template
   * ({@link defineAgentTemplate}) is registered in `registry.templates`
   * instead: agents are spawned from it at run time (no instances now).
   */
  async register(
    definition: AnyAgentDefinition | AgentTemplate,
    options: { instances?: number } = {},
  ): Promise<AgentInstance[]> {
    await this.builtins
    if (isAgentTemplate(definition)) {
      this.registry.templates.register(definition)
      return []
    }
    const instances = await this.registry.register(definition, options)
    await this.team.answerRequests(definition.name, (wf) => this.run(wf))
    const scaling = definition.scaling
    if (scaling !== undefined) this.scaling.watch(registeredTarget(this.registry, this.engine, definition, scaling))
    return instances
  }

  /** Registers several agents. */
  async registerAll(
    definitions: readonly (AnyAgentDefinition | AgentTemplate)[],
    options: { instances?: number } = {},
  ): Promise<void> {
    for (const d of definitions) await this.register(d, options)
  }

  /**
   * Registers a predefined workflow (template) under a name, to run with
   * {@link Orchestrator.runTemplate}. Registering the same workflow again is
   * a no-op; another workflow under a taken name is `VALIDATION_FAILED`
   * unless `{ replace: true }` is passed.
   */
  registerTemplate(name: string, workflow: Workflow | WorkflowSpec, options: { replace?: boolean } = {}): void {
    const wf = 'hash' in workflow ? workflow : compileWorkflow(workflow)
    const existing = this.templates.get(name)
    if (existing !== undefined && existing.hash !== wf.hash && options.replace !== true) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `A different workflow is already registered as template "${name}"; pass { replace: true } to replace it, or choose another name.`,
        { details: { template: name } },
      )
    }
    this.templates.set(name, wf)
  }

  /**
   * Loads agent definitions (files matching `agentPattern`, by default every
   * `.agent.js` or `.agent.mjs` file below the folder) and predefined workflows (YAML/JSON files,
   * registered as templates by their name) from folders. Bad files are
   * reported, not thrown: the report says what loaded and what failed and why.
   */
  async discover(options: {
    agents?: string
    workflows?: string
    agentPattern?: string
    workflowPattern?: string
  }): Promise<{ agents?: AgentDiscoveryReport; workflows?: WorkflowDiscoveryReport }> {
    await this.builtins
    const report: { agents?: AgentDiscoveryReport; workflows?: WorkflowDiscoveryReport } = {}
    if (options.agents !== undefined)
      report.agents = await discoverAgents(
        this.registry,
        options.agents,
        options.agentPattern ? { pattern: options.agentPattern } : {},
      )
    if (options.workflows !== undefined) {
      report.workflows = await discoverWorkflows(
        options.workflows,
        options.workflowPattern ? { pattern: options.workflowPattern } : {},
      )
      for (const { workflow } of report.workflows.loaded)
        this.registerTemplate(workflow.name, workflow, { replace: true })
    }
    return report
  }

  /** Names of the registered templates. */
  templateNames(): string[] {
    return [...this.templates.keys()]
  }

  /**
   * Checks that every agent, fallback and capability a workflow names is
   * registered; throws `WORKFLOW_UNKNOWN_AGENT` naming the task otherwise.
   */
  validate(workflow: Workflow): void {
    this.engine.poolsFor(workflow)
  }

  /** Starts a run and returns at once with its handle. Nothing is stored if the workflow does not validate. */
  start<O extends Record<string, unknown> = Record<string, unknown>>(
    workflow: Workflow<O> | WorkflowSpec,
    input?: unknown,
    options: RunOptions = {},
  ): RunHandle<O> {
    this.assertOpen()
    const wf: Workflow = 'hash' in workflow ? workflow : compileWorkflow(workflow)
    const runInput = this.control.prepare(wf, input)
    const concurrency = options.concurrency ?? wf.concurrency
    if (!(concurrency >= 1))
      throw new FlotillaError('VALIDATION_FAILED', `Run concurrency must be ≥ 1, got ${concurrency}.`)
    const id = options.runId !== undefined ? asRunId(options.runId) : newRunId()
    const run = this.engine.start({
      id,
      workflow: wf,
      input: runInput,
      concurrency,
      callbacks: { onProgress: options.onProgress },
      ...(options.actor === undefined ? {} : { actor: options.actor }),
      debug: runDebug(options),
    })
    return this.control.handle<O>(run, options)
  }

  /**
   * Resumes the unfinished runs of the store (all of them, or those named):
   * stored results are kept, tasks that were running run again with
   * attempt + 1 and the same idempotency key, paused runs stay paused. Runs
   * pin the workflow definition they started with. Every agent they name
   * must be registered first.
   */
  async recover(
    options: { runIds?: readonly string[] } & Pick<RunOptions, 'onProgress' | 'onEvent'> = {},
  ): Promise<RunHandle[]> {
    this.assertOpen()
    await this.builtins
    return this.control.recover(options)
  }

  /**
   * Starts a new run from a stored one, keeping the stored results of every
   * task except those named in `from`, those changed by `set`, and their
   * downstream. The new run records the run it came from (`parentRunId`).
   */
  async replay(runId: string, replay: ReplayOptions = {}, options: RunOptions = {}): Promise<RunHandle> {
    this.assertOpen()
    await this.builtins
    return this.control.replay(runId, replay, options)
  }

  /** Deletes finished runs older than `olderThanMs` (by finish time), with their tasks and events. Returns how many. */
  prune(olderThanMs: number): Promise<number> {
    if (!(olderThanMs >= 0)) throw new FlotillaError('VALIDATION_FAILED', `prune needs an age ≥ 0 ms: ${olderThanMs}.`)
    return this.store.pruneRuns(this.clock.wallNow() - olderThanMs)
  }

  /**
   * Runs a workflow to completion. A workflow built in TypeScript types the
   * result: `result.output('a')` has the output type of task `a`'s agent.
   */
  async run<O extends Record<string, unknown> = Record<string, unknown>>(
    workflow: Workflow<O> | WorkflowSpec,
    input?: unknown,
    options?: RunOptions,
  ): Promise<RunResult<O>> {
    await this.builtins
    return this.start<O>(workflow, input, options).result
  }

  /** Runs a registered template with parameters. */
  async runTemplate(name: string, params?: unknown, options?: RunOptions): Promise<RunResult> {
    const wf = this.templates.get(name)
    if (wf === undefined) {
      throw new FlotillaError(
        'TEMPLATE_NOT_FOUND',
        `No workflow template "${name}". Registered: ${this.templateNames().join(', ') || '(none)'}.`,
        { details: { template: name } },
      )
    }
    return this.run(wf, params, options)
  }

  /**
   * Pauses a run: no new task starts, running ones finish. A run stored but
   * not executing here (its process is gone) is marked PAUSED in the store.
   */
  async pause(runId: string, options: ControlOptions = {}): Promise<void> {
    return this.control.control(runId, 'pause', '', options.actor)
  }

  /**
   * Resumes a paused run. A paused run stored but not executing here is
   * recovered into this orchestrator and resumed; the returned handle waits
   * for it.
   */
  async resume(runId: string, options: ControlOptions = {}): Promise<RunHandle> {
    return this.control.resume(runId, (runIds) => this.recover({ runIds }), options.actor)
  }

  /**
   * Cancels a run; running handlers see their `ctx.signal` abort. A run
   * stored but not executing here is marked CANCELLED with its unfinished tasks.
   */
  async cancel(runId: string, reason = 'cancelled by the user', options: ControlOptions = {}): Promise<void> {
    return this.control.control(runId, 'cancel', reason, options.actor)
  }

  /** A stored run, or `RUN_NOT_FOUND`. */
  getRun(runId: string): Promise<RunRecord> {
    return this.control.getRun(runId)
  }

  /** Stored runs, newest first. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]> {
    return this.store.listRuns(filter)
  }

  /** Stored tasks of a run. */
  getTasks(runId: string): Promise<TaskRecord[]> {
    return this.store.getTasks(asRunId(runId))
  }

  /** Stored events of a run. */
  listEvents(runId: string, options?: { afterSeq?: number; limit?: number }): Promise<StoredEvent[]> {
    return this.store.listEvents(asRunId(runId), options)
  }

  /**
   * Subscribes to events of one type, or `*` for all: those of runs and
   * tasks, and those of agents (`agent.state`, `agent.reported`,
   * `agent.health`, `agent.anomaly`), security (`permission.denied`) and
   * alerts (`alert.raised`, `alert.resolved`, with the `alerts` option).
   * Returns the unsubscribe function.
   */
  on<T extends FlotillaEventType>(type: T, listener: Listener<EventOf<T>>): () => void
  on(type: '*', listener: Listener<FlotillaEvent>): () => void
  on(type: string, listener: Listener<never>): () => void {
    return this.hub.on(type, listener as Listener<FlotillaEvent>)
  }

  /** Runs one health-check round of every agent instance now (see {@link Orchestrator.health}). */
  healthCheckAll(): ReturnType<HealthMonitor['checkAll']> {
    return this.health.checkAll()
  }

  /** Which agents' outputs feed which, over the given workflows (and the registered templates). */
  agentGraph(workflows: readonly Workflow[] = []): AgentGraph {
    return agentGraph([...workflows, ...this.templates.values()])
  }

  /** Per-agent metrics: calls, errors, success rate, mean and p95 latency, circuit state. */
  metrics(): ReturnType<Registry['metrics']> {
    return this.registry.metrics()
  }

  /**
   * Stops accepting runs and closes the store. Runs in flight are left
   * unfinished in the store (their handlers are aborted) so that another
   * orchestrator can recover them; their results settle with
   * `RUN_INTERRUPTED`. With `{ cancelRuns: true }` they are cancelled instead.
   */
  async close(options: { cancelRuns?: boolean } = {}): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer)
    this.detachAlerts?.()
    this.health.stop()
    this.scaling.stop()
    await this.team.close()
    await this.journal?.close()
    if (options.cancelRuns) {
      const live = this.engine.liveRuns()
      for (const run of live) if (!run.finished) this.engine.cancel(run, 'the orchestrator is closing')
      await Promise.all(live.map((run) => run.settled))
    }
    const left = this.engine.liveRuns().map((r) => r.id)
    await this.engine.detachAll('the orchestrator closed')
    await this.leases?.stop(left)
    this.tracing?.close()
    await (this.backend?.close() ?? this.store.close())
  }

  private assertOpen(): void {
    if (this.closed) throw new FlotillaError('RUN_STATE_INVALID', 'The orchestrator is closed; create a new one.')
  }
}
