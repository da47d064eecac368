import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { EventOf, FlotillaEvent, FlotillaEventType } from '../core/events.js'
import { asRunId } from '../core/ids.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import { isAgentTemplate, type AgentTemplate } from '../agents/agent-template.js'
import type { RunFilter, RunRecord, StoredEvent, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import type { AgentInstance } from '../registry/agent-instance.js'
import type { Registry } from '../registry/registry.js'
import type { Workflow } from '../workflows/compile.js'
import type { Engine } from '../workflows/engine.js'
import type { RunResult } from '../workflows/results.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import type { HealthMonitor } from '../registry/health/health-monitor.js'
import type { AgentDiscoveryReport } from '../registry/discovery/discover-agents.js'
import type { WorkflowDiscoveryReport } from '../workflows/discovery.js'
import { ExecutionHistory } from '../registry/health/history.js'
import type { AnomalyDetector } from '../registry/health/anomaly.js'
import { agentGraph, type AgentGraph } from '../registry/health/agent-graph.js'
import type { Listener } from './event-hub.js'
import type { ReplayOptions } from './replay.js'
import type { OrchestratorOptions } from './options.js'
import type { Autoscaler } from './autoscaler.js'
import { registeredTarget } from './scaling-targets.js'
import type { Bus } from '../messaging/bus.js'
import type { ContextStore } from '../context/context-store.js'
import { openBackend, type OpenBackendOptions } from './backend.js'
import type { Authorizer } from '../security/authorizer.js'
import type { DeployedAgents } from './deployed-agents.js'
import type { ControlOptions, RunHandle, RunOptions } from './run-handle.js'
import type { RunControl } from './run-control.js'
import { closeParts, orchestratorParts, startRetention, type OrchestratorParts } from './orchestrator-parts.js'
import { startRun } from './run-start.js'
import { WorkflowTemplates } from './workflow-templates.js'

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
  /** Makes every permission decision of agents' services; `authorizer.onDecision(listener)` hears them (e.g. to audit). */
  readonly authorizer: Authorizer
  /** Everything the orchestrator forwards to (see {@link orchestratorParts}). */
  private readonly parts: OrchestratorParts
  private readonly engine: Engine
  private readonly control: RunControl
  private readonly templates = new WorkflowTemplates()
  private closed = false
  private readonly pruneTimer: NodeJS.Timeout | undefined

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
    const parts = (this.parts = orchestratorParts(options, this.history, () => this.assertOpen()))
    ;({ registry: this.registry, store: this.store, clock: this.clock, health: this.health } = parts)
    ;({ anomalies: this.anomalies, scaling: this.scaling, authorizer: this.authorizer } = parts)
    ;({ engine: this.engine, control: this.control } = parts)
    ;({ bus: this.bus, context: this.context, agents: this.agents } = parts.team)
    this.pruneTimer = startRetention(parts, (olderThanMs) => this.prune(olderThanMs))
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
    await this.parts.builtins
    if (isAgentTemplate(definition)) {
      this.registry.templates.register(definition)
      return []
    }
    const instances = await this.registry.register(definition, options)
    await this.parts.team.answerRequests(definition.name, (wf) => this.run(wf))
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
    this.templates.register(name, workflow, options)
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
    await this.parts.builtins
    return this.templates.discover(this.registry, options)
  }

  /** Names of the registered templates. */
  templateNames(): string[] {
    return this.templates.names()
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
    return startRun<O>(this.parts, workflow, input, options)
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
    await this.parts.builtins
    return this.control.recover(options)
  }

  /**
   * Starts a new run from a stored one, keeping the stored results of every
   * task except those named in `from`, those changed by `set`, and their
   * downstream. The new run records the run it came from (`parentRunId`).
   */
  async replay(runId: string, replay: ReplayOptions = {}, options: RunOptions = {}): Promise<RunHandle> {
    this.assertOpen()
    await this.parts.builtins
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
    await this.parts.builtins
    return this.start<O>(workflow, input, options).result
  }

  /** Runs a registered template with parameters. */
  async runTemplate(name: string, params?: unknown, options?: RunOptions): Promise<RunResult> {
    const wf = this.templates.get(name)
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
    return this.parts.hub.on(type, listener as Listener<FlotillaEvent>)
  }

  /** Runs one health-check round of every agent instance now (see {@link Orchestrator.health}). */
  healthCheckAll(): ReturnType<HealthMonitor['checkAll']> {
    return this.health.checkAll()
  }

  /** Which agents' outputs feed which, over the given workflows (and the registered templates). */
  agentGraph(workflows: readonly Workflow[] = []): AgentGraph {
    return agentGraph([...workflows, ...this.templates.workflows()])
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
    await closeParts(this.parts, options.cancelRuns === true)
  }

  private assertOpen(): void {
    if (this.closed) throw new FlotillaError('RUN_STATE_INVALID', 'The orchestrator is closed; create a new one.')
  }
}
