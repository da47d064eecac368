/**
 * What a {@link Worker} builds when it starts, on the store it opened: the
 * team of its agents (messages, artifacts, cache), the coordinator of the
 * runs it holds, the executor of the attempts it claims, and the writer of
 * run summaries, wired to the worker's events.
 *
 * @module
 */
import type { Clock } from '../core/clock.js'
import type { RunEvent } from '../core/events.js'
import type { RunId, TaskId } from '../core/ids.js'
import type { ModelSpec } from '../models/providers.js'
import type { Registry } from '../registry/registry.js'
import type { TaskQueue, WorkerRecord } from '../store/queue.js'
import type { Store } from '../store/store.js'
import { ContextStore } from '../context/context-store.js'
import { errorFields, type Logger, type Meter } from '../telemetry/telemetry.js'
import { Coordinator } from '../workflows/coordinator.js'
import { Executor } from '../workflows/executor.js'
import { composeInterceptors, type Interceptor } from '../workflows/invoker.js'
import type { Backend } from './backend.js'
import type { EventHub } from './event-hub.js'
import { RunSummaries } from './run-summary.js'
import { Team } from './team.js'
import { ChildRuns } from './child-runs.js'
import { workerChildRunsHost } from './worker-child-runs.js'
import { workerLog } from './worker-options.js'

/** What a worker gives {@link workerParts}. */
export interface WorkerWiring {
  readonly id: string
  readonly store: Store
  readonly queue: TaskQueue
  /** The backend the store came from, when a URL or a backend was given. */
  readonly backend: Backend | undefined
  readonly registry: Registry
  readonly clock: Clock
  readonly random: () => number
  readonly hub: EventHub
  readonly logger: Logger
  readonly meter: Meter | undefined
  readonly interceptors: readonly Interceptor[]
  readonly summaryModel: ModelSpec | undefined
  readonly concurrency: number
  readonly leaseMs: number
  /** The live workers of the catalog, as last read. */
  readonly catalog: () => readonly WorkerRecord[]
  /** Most tasks of a plan run as a child run here. */
  readonly maxPlanTasks: number
}

/** The parts of a started worker. */
export interface WorkerParts {
  readonly team: Team
  readonly coordinator: Coordinator
  readonly executor: Executor
  /** Writes the summaries of the runs that end here, when their workflow asks for one. */
  readonly summaries: RunSummaries
}

/**
 * Builds a started worker's parts. Runs that end in its coordinator are
 * summarised when their workflow asks for it, told by the coordinator with
 * the workflow it holds (no store read for the others); attempts that could
 * not be completed in the store are logged and sent as `task.log` warnings.
 */
export function workerParts(w: WorkerWiring): WorkerParts {
  const { store, queue, backend, clock, hub, logger } = w
  const deliver = (events: readonly RunEvent[]): void => hub.deliver(events)
  const summaries = new RunSummaries({ store, clock, model: w.summaryModel, logger, deliver })
  // The coordinator is made after the team, whose queue depth counts its backlog.
  let coordinator: Coordinator | undefined = undefined
  // Plans and template spawns run as child runs on the workers (innermost interceptor, as on an Orchestrator).
  const children = new ChildRuns(
    workerChildRunsHost({ store, queue, clock, registry: w.registry, maxPlanTasks: w.maxPlanTasks }),
  )
  const team = new Team({
    store,
    registry: w.registry,
    clock,
    runtimes: undefined,
    workspaceRoot: '.flotilla/agents',
    bus: backend?.bus,
    meter: w.meter,
    queueDepth: { worker: w.id, depth: () => coordinator?.backlog ?? 0 },
    context: backend === undefined ? undefined : new ContextStore(backend.context, { clock }),
    logger,
    spawnTemplate: (parent, request, lineage) => children.spawn(parent, request, lineage),
  })
  coordinator = new Coordinator({
    store: team.runStore,
    queue,
    clock,
    random: w.random,
    id: w.id,
    deliver,
    ended: (runId, spec) => summaries.afterEnd(runId, spec),
    catalog: w.catalog,
  })
  const executor = new Executor({
    store,
    queue,
    registry: w.registry,
    clock,
    id: w.id,
    concurrency: w.concurrency,
    leaseMs: w.leaseMs,
    invoke: composeInterceptors([...w.interceptors, children.interceptor]),
    deliver,
    services: (instanceId, runId, taskId) => team.services(instanceId, runId, taskId),
    journal: (instanceId) => team.journalOf(instanceId),
    onError: (e) => {
      logger.warn(errorFields(e), 'an attempt could not be completed in the store')
      const runId = (e.details.runId ?? '') as RunId
      hub.deliver([workerLog(clock, 'warn', e.message, runId, (e.details.taskId ?? '') as TaskId)])
    },
  })
  return { team, coordinator, executor, summaries }
}
