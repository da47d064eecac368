import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { EventOf, FlotillaEventType, RunEvent } from '../core/events.js'
import { newAgentId, type RunId } from '../core/ids.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import type { AgentInstance } from '../registry/agent-instance.js'
import { Registry } from '../registry/registry.js'
import type { QueueSelector, TaskQueue, WorkerRecord } from '../store/queue.js'
import type { Store } from '../store/store.js'
import type { Coordinator } from '../workflows/coordinator.js'
import type { Executor } from '../workflows/executor.js'
import type { Interceptor } from '../workflows/invoker.js'
import { BUILTIN_AGENTS } from '../workflows/patterns/builtin-agents.js'
import { openBackend, type Backend } from './backend.js'
import { EventHub, type Listener } from './event-hub.js'
import type { Team } from './team.js'
import { errorFields, resolveTelemetry, type Logger, type Meter } from '../telemetry/telemetry.js'
import { claimTelemetry, lifecycleTelemetry, modelTelemetry, telemetryInterceptors } from './telemetry-interceptors.js'
import { RunTracing, traced, watched } from './run-tracing.js'
import type { RunSummaries } from './run-summary.js'
import type { ModelSpec } from '../models/providers.js'
import { resolveWorkerOptions, workerLog, type ResolvedWorkerOptions, type WorkerOptions } from './worker-options.js'
import { workerParts } from './worker-parts.js'
import { WorkerHeartbeat } from './worker-heartbeat.js'
import { WorkerScaling } from './worker-scaling.js'

export type { WorkerOptions } from './worker-options.js'

/**
 * A worker: coordinators, executors, a registry of agents and the task
 * queue of a shared store. Start any number of them, on one host (SQLite) or
 * many (PostgreSQL): each advertises its agents in the stored catalog,
 * claims the runs nobody holds (new ones, and those whose worker died: after
 * the lease), offers their ready attempts, and claims and runs the attempts
 * its agents can run. Results are stored exactly once, fenced by attempt and
 * lease.
 *
 * @example
 * ```ts
 * const worker = new Worker({ store: 'postgres://postgres@127.0.0.1:5432/app', concurrency: 50 })
 * await worker.register(summarizer)
 * await worker.start()
 * // … later
 * await worker.stop()
 * ```
 */
export class Worker {
  readonly id: string
  readonly registry: Registry
  readonly clock: Clock
  private readonly options: ResolvedWorkerOptions
  private readonly summaryModel: ModelSpec | undefined
  private readonly maxPlanTasks: number
  /** Writes the summaries of the runs that end here, when their workflow asks for one. */
  private summaries: RunSummaries | undefined
  private readonly storeSpec: Store | string | undefined
  private readonly givenBackend: Backend | undefined
  /** The backend this worker opened from a URL (closed by `stop()`). */
  private ownBackend: Backend | undefined
  /** Messages, artifacts and cache of the agents run here. */
  private team: Team | undefined
  private readonly hub: EventHub
  private readonly tracing: RunTracing | undefined
  private readonly logger: Logger
  private readonly random: () => number
  private readonly interceptors: readonly Interceptor[]
  /** Claim calls timed and counted (with a meter). */
  private readonly claimMetrics: ((ms: number, claimed: number) => void) | undefined
  private readonly meter: Meter | undefined
  private store_: Store | undefined
  private queue_: TaskQueue | undefined
  private coordinator: Coordinator | undefined
  private executor: Executor | undefined
  /** Leases, catalog and clock checks of the current start. */
  private heartbeat: WorkerHeartbeat | undefined
  /** Runs forgotten after a failed store call whose leases are still ours: let go of before the next claim, to be adopted again from the store. */
  private readonly unheld = new Set<RunId>()
  private loop: Promise<void> | undefined
  private abort = new AbortController()
  private readonly builtins: Promise<void>
  /** Auto-scaling of the agents registered with `scaling`, from the shared queue. */
  private readonly scaling: WorkerScaling

  constructor(options: WorkerOptions = {}) {
    this.id = options.id ?? `wkr_${newAgentId().slice(4)}`
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? Math.random
    if (options.store !== undefined && options.backend !== undefined) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'Give a worker either a backend or a store, not both (the backend holds its store).',
      )
    }
    this.storeSpec = options.store
    this.givenBackend = options.backend
    const telemetry = resolveTelemetry(options.telemetry)
    this.logger = telemetry.logger.child({ worker: this.id })
    this.hub = new EventHub(this.logger)
    const models = modelTelemetry(options.telemetry, telemetry)
    if (models !== undefined) this.hub.on('model.called', models)
    const lifecycle = lifecycleTelemetry(options.telemetry, telemetry)
    if (lifecycle !== undefined) this.hub.on('*', lifecycle)
    this.claimMetrics = claimTelemetry(options.telemetry, telemetry, this.id)
    this.meter = options.telemetry?.meter
    const tracing = (this.tracing = telemetry.tracing ? new RunTracing(telemetry.tracer) : undefined)
    if (tracing !== undefined) this.hub.on('*', tracing.onEvent)
    this.interceptors = [
      ...telemetryInterceptors(options.telemetry, telemetry, tracing),
      ...(options.interceptors ?? []),
    ]
    this.options = resolveWorkerOptions(options)
    this.summaryModel = options.summaryModel
    this.maxPlanTasks = options.maxPlanTasks ?? 1000
    this.registry = new Registry({ clock: this.clock })
    this.builtins = Promise.all(BUILTIN_AGENTS.map((d) => this.registry.register(d))).then(() => undefined)
    this.scaling = new WorkerScaling({
      registry: this.registry,
      clock: this.clock,
      hub: this.hub,
      logger: this.logger,
      concurrency: this.options.concurrency,
      intervalMs: options.scalingIntervalMs,
    })
  }

  /** The store, once {@link Worker.start} opened it. */
  get store(): Store {
    if (this.store_ === undefined)
      throw new FlotillaError('RUN_STATE_INVALID', 'The worker has not started: call start() first.')
    return this.store_
  }

  /**
   * Registers an agent this worker runs (before or after start). An agent
   * with `scaling` starts with its `min` instances and is auto-scaled from
   * the shared queue: instances are added while attempts for it wait there
   * (more than `targetQueueDepth` per instance, or for `maxWaitMs`), up to
   * `max` in this worker, and idle ones removed after `cooldownMs` (see
   * docs/scaling.md). `{ instances }` sets a fixed count instead: then it is
   * not scaled.
   */
  async register(definition: AnyAgentDefinition, options: { instances?: number } = {}): Promise<AgentInstance[]> {
    await this.builtins
    const instances = await this.registry.register(definition, options)
    const scaling = definition.scaling
    if (scaling !== undefined && options.instances === undefined) this.scaling.watch(definition, scaling)
    return instances
  }

  /**
   * Subscribes to the events of what this worker does (`*` for all: the
   * events of the runs and attempts, and `agent.scaled` when auto-scaling
   * changes an agent's instances). Returns the unsubscribe function.
   */
  on<T extends FlotillaEventType>(type: T, listener: Listener<EventOf<T>>): () => void
  on(type: string, listener: Listener<RunEvent>): () => void
  on(type: string, listener: Listener<never>): () => void {
    return this.hub.on(type, listener as Listener<RunEvent>)
  }

  /**
   * Opens the store, advertises the worker and starts claiming runs and
   * attempts. Fails with `WORKER_NO_AGENTS` when no agent was registered,
   * `WORKER_CLOCK_SKEW` when this host's clock is off the store's by more
   * than a third of `leaseMs` (checked again every minute while running:
   * logged as an error), and with the store's error when it cannot be opened.
   */
  async start(): Promise<void> {
    if (this.loop !== undefined) return
    await this.builtins
    const own = this.registry.definitions().filter((d) => !d.name.startsWith('flotilla.'))
    if (own.length === 0) {
      throw new FlotillaError(
        'WORKER_NO_AGENTS',
        `Worker ${this.id} has no agents: register some (worker.register(agent), or flotilla worker --agents ./agents.mjs) before starting it.`,
        { details: { worker: this.id } },
      )
    }
    const backend =
      typeof this.storeSpec === 'object'
        ? undefined
        : (this.givenBackend ?? (this.ownBackend = await openBackend(this.storeSpec, { clock: this.clock })))
    const store = (this.store_ = watched(this.tracing, backend?.store ?? (this.storeSpec as Store)))
    if (store.queue === undefined)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The ${store.kind} store has no task queue; workers need the memory, SQLite or PostgreSQL store.`,
      )
    const queue = (this.queue_ = store.queue(this.clock))
    const parts = workerParts({
      id: this.id,
      store,
      queue,
      backend,
      registry: this.registry,
      clock: this.clock,
      random: this.random,
      hub: this.hub,
      logger: this.logger,
      meter: this.meter,
      interceptors: this.interceptors,
      summaryModel: this.summaryModel,
      concurrency: this.options.concurrency,
      leaseMs: this.options.leaseMs,
      catalog: () => this.workers(),
      maxPlanTasks: this.maxPlanTasks,
    })
    ;({ team: this.team, coordinator: this.coordinator, executor: this.executor, summaries: this.summaries } = parts)
    const heartbeat = (this.heartbeat = new WorkerHeartbeat({
      id: this.id,
      queue,
      clock: this.clock,
      registry: this.registry,
      coordinator: parts.coordinator,
      executor: parts.executor,
      concurrency: this.options.concurrency,
      leaseMs: this.options.leaseMs,
      logger: this.logger,
      hub: this.hub,
    }))
    try {
      const skew = await heartbeat.skew()
      if (skew !== undefined) throw skew
    } catch (e) {
      await parts.team.close()
      await this.ownBackend?.close()
      this.ownBackend = undefined
      throw e
    }
    await heartbeat.advertise()
    this.abort = new AbortController()
    this.loop = this.run()
    this.scaling.start(queue, () => void queue.notify().catch(() => undefined))
  }

  /**
   * Stops: no new claims; running attempts get `drainMs` to finish (then they
   * are aborted and their claims released, to run again elsewhere with the
   * same attempt), the runs held here are released for other workers at
   * once, and the worker leaves the catalog. The backend is closed if the
   * worker opened it from a URL.
   */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    if (this.loop === undefined) return
    this.scaling.stop()
    this.abort.abort()
    await this.loop.catch(() => undefined)
    this.loop = undefined
    const executor = this.executor!
    const until = Date.now() + (options.drainMs ?? 30_000)
    while (executor.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    const queue = this.queue_!
    const left = executor.claims()
    executor.abortAll(`worker ${this.id} is stopping`)
    const warn =
      (what: string) =>
      (e: unknown): void =>
        this.logger.warn(errorFields(e), `stopping: could not ${what}; other workers take it over after the lease`)
    await queue.release(this.id, left).catch(warn('release the claimed attempts'))
    await queue.releaseRuns(this.id, this.coordinator!.runIds()).catch(warn('let go of the runs held here'))
    await queue.retire(this.id).catch(warn('leave the catalog'))
    await this.summaries?.idle()
    await this.team?.close()
    this.tracing?.close()
    if (this.ownBackend !== undefined) await this.ownBackend.close()
    this.ownBackend = undefined
  }

  /** Workers the catalog shows alive now (this one included). */
  workers(): readonly WorkerRecord[] {
    return this.heartbeat?.catalog ?? []
  }

  private selectors(): QueueSelector[] {
    return this.executor!.selectors()
  }

  private async run(): Promise<void> {
    const queue = this.queue_!
    const coordinator = this.coordinator!
    const executor = this.executor!
    const o = this.options
    const pollMs = o.pollMs ?? (queue.kind === 'postgres' ? 1000 : 200)
    // Heartbeats renew leases and bring pause and cancel written elsewhere: at least every second.
    const beatEvery = Math.min(1000, o.leaseMs / 3)
    let lastBeat = this.clock.now()
    let failures = 0
    while (!this.abort.signal.aborted) {
      try {
        let busy = false
        if (this.unheld.size > 0) {
          await queue.releaseRuns(this.id, [...this.unheld])
          this.unheld.clear()
        }
        if (this.clock.now() - lastBeat >= beatEvery) {
          lastBeat = this.clock.now()
          await this.heartbeat!.beat()
        }
        if (coordinator.size < o.maxRuns) {
          const leases = await queue.claimRuns(this.id, Math.min(100, o.maxRuns - coordinator.size), o.leaseMs)
          // Read the claimed runs concurrently (one pool), then rebuild their graphs; the offers go in one flush below.
          const loaded = await Promise.all(
            leases.map(
              async (lease) => [await this.store.getRun(lease.runId), await this.store.getTasks(lease.runId)] as const,
            ),
          )
          for (const [record, tasks] of loaded) {
            busy = true
            if (record !== undefined) await coordinator.adopt(traced(this.tracing, record), tasks)
          }
        }
        const results = await queue.takeResults(this.id, 500)
        if (results.length > 0) {
          busy = true
          await coordinator.onResults(results)
        }
        await coordinator.flush()
        const claimStarted = this.claimMetrics === undefined ? 0 : performance.now()
        const claimed = await executor.claimAndRun(this.selectors(), o.claimBatch)
        this.claimMetrics?.(performance.now() - claimStarted, claimed)
        if (claimed > 0) busy = true
        failures = 0
        if (!busy) await queue.wait(Math.min(pollMs, beatEvery), this.abort.signal)
        // On the memory queue every await above is a microtask: let timers and I/O (handlers) run.
        else await new Promise((r) => setImmediate(r))
      } catch (e) {
        // The store is unreachable (restarting, network): say so, back off, and go on. What the coordinator had
        // decided and not yet written may be lost, or written with its reply lost: its runs are let go of and
        // adopted again from the store. Claimed attempts keep running; their results wait in the store.
        failures++
        for (const id of coordinator.reset()) this.unheld.add(id)
        const error = toFlotillaError(e, 'STORE_UNAVAILABLE')
        this.logger.error({ ...errorFields(error), failures }, 'the worker loop failed; backing off and retrying')
        this.hub.deliver([
          workerLog(this.clock, 'error', `worker ${this.id}: ${error.code}: ${error.message} (retrying)`),
        ])
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(failures, 6))))
      }
    }
  }
}
