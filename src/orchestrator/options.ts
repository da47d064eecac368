import { z } from 'zod'
import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { CircuitBreakerOptions } from '../resilience/circuit-breaker.js'
import type { LoadBalancingStrategy } from '../registry/load-balancer.js'
import type { HealthMonitorOptions } from '../registry/health/health-monitor.js'
import type { AnomalyDetectorOptions } from '../registry/health/anomaly.js'
import type { Store } from '../store/store.js'
import type { ModelSpec } from '../models/providers.js'
import type { Bus } from '../messaging/bus.js'
import type { ContextStore } from '../context/context-store.js'
import type { Runtime } from '../runtimes/runtime.js'
import type { Interceptor } from '../workflows/invoker.js'
import type { Backend } from './backend.js'
import type { Telemetry } from '../telemetry/telemetry.js'
import type { Authorizer } from '../security/authorizer.js'
import { AlertMonitor } from '../telemetry/alerts/monitor.js'

/** Options of the {@link Orchestrator}. */
export interface OrchestratorOptions {
  /**
   * Where runs are stored: a Store, or `memory`, a file path, `sqlite:<path>`.
   * For PostgreSQL pass `await openStoreAsync('postgres://…')`.
   * @default the `FLOTILLA_STORE` environment variable, else `sqlite:.flotilla/flotilla.db`
   */
  store?: Store | string
  /**
   * Everything on one database, from {@link openBackend}: the store, its
   * queue, and (where the backend has them) the bus and the context backend,
   * so a PostgreSQL URL makes messages and artifacts shared too. Closed by
   * `close()`, like a store. Give `backend` or `store`, not both.
   * @default none (the `store` option)
   */
  backend?: Backend
  /** Time source; inject a FakeClock in tests. @default systemClock */
  clock?: Clock
  /** Most task attempts executing at once across all runs. @default Infinity */
  concurrency?: number
  /** Most task attempts executing at once per capability, e.g. `{ llm: 4 }`. @default {} */
  capabilityConcurrency?: Record<string, number>
  /** How an instance is picked among several. @default "least-loaded" */
  loadBalancing?: LoadBalancingStrategy
  /** Circuit breaker of every agent instance. @default { failureThreshold: 5, cooldownMs: 30000 } */
  circuitBreaker?: CircuitBreakerOptions
  /** Least time between two progress reports of one run, in ms. @default 100 */
  progressIntervalMs?: number
  /** Time between two checks of the autoscaler (agents with `scaling`), in ms. @default 250 */
  scalingIntervalMs?: number
  /** Random source for backoff jitter. @default Math.random */
  random?: () => number
  /**
   * Deletes finished runs older than `maxAgeMs` every `intervalMs` (default:
   * hourly), and once at start. @default no automatic pruning
   */
  retention?: { maxAgeMs: number; intervalMs?: number }
  /** Options of the health monitor; `autoStart` starts periodic checks and self-healing at once. @default not started */
  health?: HealthMonitorOptions & { autoStart?: boolean }
  /** Options of the anomaly detector ({@link Orchestrator.anomalies}): thresholds and baseline size. @default the detector's defaults */
  anomalies?: AnomalyDetectorOptions
  /** The message bus of agents (`ctx.send`, `ctx.request`…); e.g. `await openPostgresBus(…)` for a cluster; one you pass is not closed by `close()`. @default an in-process MemoryBus */
  bus?: Bus
  /** Shared artifacts and cache of agents (`ctx.artifacts`, `ctx.cache`); one you pass is not closed by `close()`. @default an in-memory ContextStore */
  context?: ContextStore
  /** Where deployed agents run. @default the inprocess and process runtimes */
  runtimes?: readonly Runtime[]
  /** Folder holding deployed agents' workspaces. @default ".flotilla/agents" */
  workspaceRoot?: string
  /**
   * Also publish run and task events on the bus (under their own types, from
   * `orchestrator`), so subscribers in other processes see them. Costs a JSON
   * copy per event. Agent lifecycle events are always published.
   * @default false
   */
  busEvents?: boolean
  /**
   * Alert rules to watch this orchestrator's events with: its alerts come as
   * `alert.raised` / `alert.resolved` events, and the monitor counts the dead
   * letters of the registered agents' mailboxes. Not closed with the orchestrator.
   */
  alerts?: AlertMonitor
  /**
   * Where logs, metrics and traces go: a `pino` logger, an OpenTelemetry
   * `Meter` and `Tracer` fit as they are (see docs/observability.md). Each
   * agent execution gets a span (with a tracer) and is counted and timed
   * (with a meter); failures nobody waits for are logged.
   * @default nothing is reported
   */
  telemetry?: Telemetry
  /**
   * Makes every permission decision of agents' services (messages, events,
   * artifacts, cache); listen with `authorizer.onDecision` to audit them.
   * @default a new Authorizer per orchestrator
   */
  authorizer?: Authorizer
  /** Wrap every agent execution (authorize, audit, meter, trace…); composed once, the first listed outermost. @default none */
  interceptors?: readonly Interceptor[]
  /**
   * On a durable store, runs executing here are held under a lease renewed
   * every 500 ms; another process may take a run over (recover it) only once
   * its lease ran out (this process died) or was released. @default 15000
   */
  leaseMs?: number
  /** Most tasks of a plan a task returns (`childWorkflow`): more is `PLAN_TOO_LARGE`, nothing started. @default 1000 */
  maxPlanTasks?: number
  /**
   * The model that writes run summaries (a workflow's `summary: true`) when
   * the workflow names none in `summary.model`. Without either, a workflow
   * asking for a summary is `SUMMARY_MODEL_MISSING` when it starts.
   * @default none
   */
  summaryModel?: ModelSpec
}

/** Options after defaults. */
export interface ResolvedOptions {
  concurrency: number
  capabilityConcurrency: Record<string, number>
  loadBalancing: LoadBalancingStrategy
  circuitBreaker: CircuitBreakerOptions
  progressIntervalMs: number
  scalingIntervalMs: number
  retention: { maxAgeMs: number; intervalMs: number } | undefined
  leaseMs: number
  maxPlanTasks: number
}

const schema = z
  .object({
    store: z.unknown().optional(),
    backend: z
      .custom<Backend>((v) => typeof v === 'object' && v !== null && 'store' in v && 'context' in v, {
        message: 'must be a backend from openBackend(url)',
      })
      .optional(),
    clock: z.unknown().optional(),
    random: z.unknown().optional(),
    concurrency: z.number().min(1).optional(),
    capabilityConcurrency: z.record(z.string(), z.number().int().min(1)).optional(),
    loadBalancing: z.enum(['round-robin', 'least-loaded', 'performance']).optional(),
    circuitBreaker: z
      .object({ failureThreshold: z.number().int().min(1).optional(), cooldownMs: z.number().min(0).optional() })
      .strict()
      .optional(),
    progressIntervalMs: z.number().min(0).optional(),
    scalingIntervalMs: z.number().positive().optional(),
    health: z.record(z.string(), z.unknown()).optional(),
    anomalies: z.record(z.string(), z.unknown()).optional(),
    retention: z
      .object({ maxAgeMs: z.number().min(0), intervalMs: z.number().min(1000).optional() })
      .strict()
      .optional(),
    bus: z.unknown().optional(),
    context: z.unknown().optional(),
    runtimes: z.array(z.unknown()).min(1).optional(),
    workspaceRoot: z.string().min(1).optional(),
    busEvents: z.boolean().optional(),
    alerts: z.instanceof(AlertMonitor, { message: 'must be an AlertMonitor' }).optional(),
    authorizer: z
      .custom<Authorizer>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { authorize?: unknown }).authorize === 'function',
        { message: 'must be an Authorizer' },
      )
      .optional(),
    telemetry: z
      .object({ logger: z.unknown().optional(), meter: z.unknown().optional(), tracer: z.unknown().optional() })
      .strict()
      .optional(),
    interceptors: z
      .array(
        z.custom<Interceptor>((v) => typeof v === 'function', {
          message: 'each interceptor must be a function (call, next) => …',
        }),
      )
      .optional(),
    leaseMs: z.number().min(2000, 'must be at least 2000 ms (the lease is renewed every 500 ms)').optional(),
    maxPlanTasks: z.number().int().min(1).optional(),
    summaryModel: z
      .custom<ModelSpec>((v) => typeof v === 'string' || (typeof v === 'object' && v !== null), {
        message: 'must be a language model or a "provider:model" string',
      })
      .optional(),
  })
  .strict()
  .refine((o) => o.backend === undefined || o.store === undefined, {
    message: 'give either a backend or a store, not both (the backend holds its store)',
    path: ['backend'],
  })

/** Validates and completes orchestrator options. */
export function resolveOrchestratorOptions(options: OrchestratorOptions): ResolvedOptions {
  const parsed = schema.safeParse(options)
  if (!parsed.success) {
    const i = parsed.error.issues[0]
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Invalid orchestrator option "${i?.path.join('.') || '(root)'}": ${i?.message}.`,
      { details: { path: i?.path.join('.') ?? '' } },
    )
  }
  return {
    concurrency: options.concurrency ?? Infinity,
    capabilityConcurrency: options.capabilityConcurrency ?? {},
    loadBalancing: options.loadBalancing ?? 'least-loaded',
    circuitBreaker: options.circuitBreaker ?? {},
    progressIntervalMs: options.progressIntervalMs ?? 100,
    scalingIntervalMs: options.scalingIntervalMs ?? 250,
    retention: options.retention
      ? { maxAgeMs: options.retention.maxAgeMs, intervalMs: options.retention.intervalMs ?? 3_600_000 }
      : undefined,
    leaseMs: options.leaseMs ?? 15_000,
    maxPlanTasks: options.maxPlanTasks ?? 1000,
  }
}
