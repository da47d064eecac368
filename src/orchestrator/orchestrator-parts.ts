/**
 * How an {@link Orchestrator} is put together (and taken apart): from its options, the store
 * (or backend), the registry, the team of agents' services, the engine with
 * its interceptors and leases, the control of runs, child runs, health,
 * anomalies, scaling and alerts, all wired to one event hub. The
 * orchestrator itself only holds these parts and forwards to them.
 *
 * @module
 */
import { systemClock, type Clock } from '../core/clock.js'
import type { RunCancelledEvent } from '../core/events.js'
import { newAgentId, type RunId } from '../core/ids.js'
import { openStore } from '../store/open-store.js'
import type { Store } from '../store/store.js'
import { Registry } from '../registry/registry.js'
import { Engine } from '../workflows/engine.js'
import { composeInterceptors } from '../workflows/invoker.js'
import { BUILTIN_AGENTS } from '../workflows/patterns/builtin-agents.js'
import { HealthMonitor } from '../registry/health/health-monitor.js'
import type { ExecutionHistory } from '../registry/health/history.js'
import { AnomalyDetector } from '../registry/health/anomaly.js'
import { ContextStore } from '../context/context-store.js'
import { SqliteContextBackend } from '../context/sqlite/sqlite-context-backend.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import { errorFields, resolveTelemetry, type Logger } from '../telemetry/telemetry.js'
import { Authorizer } from '../security/authorizer.js'
import { EventHub } from './event-hub.js'
import { resolveOrchestratorOptions, type OrchestratorOptions, type ResolvedOptions } from './options.js'
import { Team } from './team.js'
import { localHolderId, RunLeases } from './leases.js'
import type { Autoscaler } from './autoscaler.js'
import { hubAutoscaler } from './scaling-targets.js'
import type { Backend } from './backend.js'
import { lifecycleTelemetry, modelTelemetry, telemetryInterceptors } from './telemetry-interceptors.js'
import { RunTracing } from './run-tracing.js'
import { ChildRuns } from './child-runs.js'
import { RunControl } from './run-control.js'
import { attachAlerts } from './dead-letters.js'

/** The parts of an orchestrator (see {@link orchestratorParts}). */
export interface OrchestratorParts {
  readonly options: ResolvedOptions
  readonly logger: Logger
  readonly hub: EventHub
  readonly tracing: RunTracing | undefined
  readonly clock: Clock
  readonly anomalies: AnomalyDetector
  /** The backend given in the options (closed with the orchestrator). */
  readonly backend: Backend | undefined
  readonly authorizer: Authorizer
  readonly store: Store
  readonly registry: Registry
  /** The journal of durable steps, when the orchestrator opened its SQLite store itself. */
  readonly journal: ContextStore | undefined
  /** Messages, artifacts, deployed agents and the services of agents. */
  readonly team: Team
  /** Plans run as child runs; agents spawned from templates. */
  readonly children: ChildRuns
  readonly engine: Engine
  /** Leases of the runs executing here (durable stores only). */
  readonly leases: RunLeases | undefined
  /** Recovery, replay and control of runs, here or only stored. */
  readonly control: RunControl
  readonly health: HealthMonitor
  readonly scaling: Autoscaler
  readonly detachAlerts: (() => void) | undefined
  /** The built-in agents patterns compile to, being registered. */
  readonly builtins: Promise<void>
}

/**
 * Builds and wires the parts of an orchestrator. `history` records the
 * executions (the orchestrator's own), `assertOpen` throws once it is closed
 * (child runs start through it). Starts the leases of a durable store, the
 * health monitor with `health.autoStart`, and the registration of the
 * built-in agents.
 */
export function orchestratorParts(
  given: OrchestratorOptions,
  history: ExecutionHistory,
  assertOpen: () => void,
): OrchestratorParts {
  const options = resolveOrchestratorOptions(given)
  const telemetry = resolveTelemetry(given.telemetry)
  const logger = telemetry.logger
  const hub = new EventHub(logger)
  const models = modelTelemetry(given.telemetry, telemetry)
  if (models !== undefined) hub.on('model.called', models)
  const lifecycle = lifecycleTelemetry(given.telemetry, telemetry)
  if (lifecycle !== undefined) hub.on('*', lifecycle)
  const tracing = telemetry.tracing ? new RunTracing(telemetry.tracer) : undefined
  if (tracing !== undefined) hub.on('*', tracing.onEvent)
  const clock = given.clock ?? systemClock
  const anomalies = new AnomalyDetector({ clock, ...given.anomalies })
  const backend = given.backend
  const authorizer = given.authorizer ?? new Authorizer()
  const store = backend?.store ?? (typeof given.store === 'object' ? given.store : openStore(given.store))
  tracing?.watch(store)
  const registry = new Registry({ clock, strategy: options.loadBalancing, circuitBreaker: options.circuitBreaker })
  // A SQLite file opened here (the default store) keeps the journal of durable steps too, so that model calls and
  // ctx.step results survive a crash and `recover()` replays them; artifacts stay where `context` says.
  const file =
    backend === undefined &&
    given.context === undefined &&
    typeof given.store !== 'object' &&
    store instanceof SqliteStore
      ? store.path
      : ':memory:'
  const journal =
    file === ':memory:' ? undefined : new ContextStore(SqliteContextBackend.open({ path: file }), { clock, authorizer })
  const team: Team = new Team({
    ...(journal === undefined ? {} : { journal: journal.journal }),
    store,
    registry,
    clock,
    runtimes: given.runtimes,
    workspaceRoot: given.workspaceRoot ?? '.flotilla/agents',
    bus: given.bus ?? backend?.bus,
    meter: given.telemetry?.meter,
    queueDepth: { worker: 'orchestrator', depth: (): number => engine.queued },
    context:
      given.context ?? (backend === undefined ? undefined : new ContextStore(backend.context, { clock, authorizer })),
    logger,
    authorizer,
    onEvent: (e) => hub.deliver([e]),
    spawnTemplate: (parent, request, lineage) => children.spawn(parent, request, lineage),
  })
  const children: ChildRuns = new ChildRuns({
    store,
    registry,
    maxPlanTasks: options.maxPlanTasks,
    start: (wf, input, ids) => (assertOpen(), control.startChild(wf, input, ids)),
    resume: (id) => control.resumeChild(id),
    cancel: (id, reason) => control.control(id, 'cancel', reason, undefined),
  })
  const queue = store.durable && store.queue !== undefined ? store.queue(clock) : undefined
  const lease = queue === undefined ? undefined : { holder: localHolderId(newAgentId().slice(4)), ms: options.leaseMs }
  const engine: Engine = new Engine({
    invoke: composeInterceptors([
      ...telemetryInterceptors(given.telemetry, telemetry, tracing),
      ...(given.interceptors ?? []),
      children.interceptor,
    ]),
    lease,
    ...(tracing === undefined
      ? {}
      : { traceRun: (runId: RunId, workflow: string) => tracing.startRun(runId, workflow) }),
    store: team.runStore,
    registry,
    clock,
    concurrency: options.concurrency,
    capabilityConcurrency: options.capabilityConcurrency,
    progressIntervalMs: options.progressIntervalMs,
    random: given.random ?? Math.random,
    deliver: given.busEvents
      ? (events) => (hub.deliver(events), team.forward(events))
      : (events) => hub.deliver(events),
    services: (instanceId, runId, taskId) => team.services(instanceId, runId, taskId),
    journal: (instanceId) => team.journalOf(instanceId),
    observe: (e) => {
      const agent = e.instance.key
      history.record(agent, {
        runId: e.runId,
        taskId: e.taskId,
        attempt: e.attempt,
        startedAt: clock.wallNow() - e.durationMs,
        durationMs: e.durationMs,
        ok: e.ok,
        errorCode: e.errorCode,
      })
      anomalies.observe(agent, e.durationMs, e.ok)
    },
  })
  let leases: RunLeases | undefined
  if (queue !== undefined && lease !== undefined) {
    leases = new RunLeases(store, queue, engine, lease.holder, lease.ms, logger)
    leases.start()
  }
  const control: RunControl = new RunControl({
    store,
    engine,
    leases,
    hub,
    clock,
    summaryModel: given.summaryModel,
    logger,
  })
  hub.on('run.cancelled', (e) => {
    const { runId, reason } = e as RunCancelledEvent
    void children.cancelChildren(runId, reason)
  })
  const { autoStart = false, ...healthOptions } = given.health ?? {}
  const health = new HealthMonitor(registry, { clock, ...healthOptions })
  health.onTransition((t) => hub.deliver([{ type: 'agent.health', ...t }]))
  anomalies.onAnomaly((a) => hub.deliver([{ type: 'agent.anomaly', ...a }]))
  if (autoStart) health.start()
  const scaling = hubAutoscaler(clock, options.scalingIntervalMs, hub, logger)
  team.agents.scaling.use(scaling, engine)
  const detachAlerts = attachAlerts(given.alerts, hub, team.bus, registry)
  const builtins = Promise.all(BUILTIN_AGENTS.map((d) => registry.register(d))).then(() => undefined)
  return {
    options,
    logger,
    hub,
    tracing,
    clock,
    anomalies,
    backend,
    authorizer,
    store,
    registry,
    journal,
    team,
    children,
    engine,
    leases,
    control,
    health,
    scaling,
    detachAlerts,
    builtins,
  }
}

/**
 * Prunes finished runs now and then every `retention.intervalMs` when the
 * options ask for it (failures are logged; the next prune tries again);
 * returns the timer, which does not keep the process alive.
 */
export function startRetention(
  parts: Pick<OrchestratorParts, 'options' | 'logger'>,
  prune: (olderThanMs: number) => Promise<number>,
): NodeJS.Timeout | undefined {
  const retention = parts.options.retention
  if (retention === undefined) return undefined
  const once = (): void => {
    prune(retention.maxAgeMs).catch((e: unknown) =>
      parts.logger.error(errorFields(e), 'periodic prune of finished runs failed; the next one tries again'),
    )
  }
  once()
  return setInterval(once, retention.intervalMs).unref()
}

/**
 * Takes the parts apart, once the orchestrator stopped accepting runs: stops
 * alerts, health and scaling, closes the team and journal, cancels the runs
 * in flight (`cancelRuns`) or leaves them unfinished in the store for another
 * orchestrator to recover (their leases let go of), and closes the backend or
 * store.
 */
export async function closeParts(parts: OrchestratorParts, cancelRuns: boolean): Promise<void> {
  const { engine } = parts
  parts.detachAlerts?.()
  parts.health.stop()
  parts.scaling.stop()
  await parts.team.close()
  await parts.journal?.close()
  if (cancelRuns) {
    const live = engine.liveRuns()
    for (const run of live) if (!run.finished) engine.cancel(run, 'the orchestrator is closing')
    await Promise.all(live.map((run) => run.settled))
  }
  const left = engine.liveRuns().map((r) => r.id)
  await engine.detachAll('the orchestrator closed')
  await parts.leases?.stop(left)
  parts.tracing?.close()
  await (parts.backend?.close() ?? parts.store.close())
}
