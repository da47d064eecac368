/**
 * A {@link Worker}'s options: what can be given, the defaults, their
 * validation, and the clock-skew check leases depend on.
 *
 * @module
 */
import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId, TaskId } from '../core/ids.js'
import type { ModelSpec } from '../models/providers.js'
import type { TaskQueue } from '../store/queue.js'
import type { Store } from '../store/store.js'
import type { Telemetry } from '../telemetry/telemetry.js'
import type { Interceptor } from '../workflows/invoker.js'
import type { Backend } from './backend.js'

/** Options of a {@link Worker}. */
export interface WorkerOptions {
  /**
   * The shared store: a Store, or a URL (`postgres://…`, a SQLite file). A
   * URL opens a whole backend ({@link openBackend}): with PostgreSQL the
   * agents' messages and artifacts are shared through it too.
   * @default `$FLOTILLA_STORE`, else `.flotilla/flotilla.db`
   */
  store?: Store | string
  /** A backend from {@link openBackend} instead of `store` (not closed by `stop()`). */
  backend?: Backend
  /** This worker's id in the catalog and on its leases. @default `wkr_…` (new) */
  id?: string
  /** Most attempts this worker runs at once. @default 16 */
  concurrency?: number
  /** How long a lease (on a run, or a claimed attempt) lasts without a heartbeat, in ms; heartbeats come every third of it. @default 15000 */
  leaseMs?: number
  /** The safety poll: the longest wait between two looks at the queue when no notification comes, in ms. @default 1000 (PostgreSQL), 200 (SQLite, memory) */
  pollMs?: number
  /** Most runs this worker coordinates at once. @default 1000 */
  maxRuns?: number
  /** Most attempts taken in one claim. @default 64 */
  claimBatch?: number
  /**
   * How often auto-scaling checks the agents registered with `scaling`
   * against the shared queue, in ms (one query per check, for all of them).
   * @default max(250, min(1000, the smallest `maxWaitMs`))
   */
  scalingIntervalMs?: number
  /** Wrap every agent execution (see {@link Interceptor}); composed once. */
  interceptors?: readonly Interceptor[]
  /** Where logs, metrics and traces go, as for the Orchestrator. @default nothing is reported */
  telemetry?: Telemetry
  clock?: Clock
  random?: () => number
  /** The model that writes the summaries of runs coordinated here when their workflow names none (see `WorkflowSpec.summary`). */
  summaryModel?: ModelSpec
  /** Most tasks of a plan a task returns here (it runs as a child run on the workers; `PLAN_TOO_LARGE` beyond). @default 1000 */
  maxPlanTasks?: number
}

const DEFAULTS = { concurrency: 16, leaseMs: 15_000, maxRuns: 1000, claimBatch: 64 }

/** How often a running worker compares its clock with the store's again, in ms. */
export const SKEW_CHECK_MS = 60_000

/** The worker options not resolved into its {@link ResolvedWorkerOptions}. */
type KeptAsGiven = Exclude<keyof WorkerOptions, 'concurrency' | 'leaseMs' | 'maxRuns' | 'claimBatch'>

/** The limits of a worker, checked and with their defaults. */
export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, KeptAsGiven>> & { pollMs: number | undefined }

/** Checks a worker's limits and fills in their defaults; `VALIDATION_FAILED` naming the bad one. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const leaseMs = options.leaseMs ?? DEFAULTS.leaseMs
  if (!(leaseMs >= 300)) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `leaseMs must be at least 300 ms (heartbeats come every third of it); got ${leaseMs}. A lease shorter than a heartbeat round trip would let other workers take running work.`,
      { details: { leaseMs } },
    )
  }
  const concurrency = options.concurrency ?? DEFAULTS.concurrency
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new FlotillaError('VALIDATION_FAILED', `concurrency must be a whole number ≥ 1; got ${concurrency}.`, {
      details: { concurrency },
    })
  return {
    concurrency,
    leaseMs,
    pollMs: options.pollMs,
    maxRuns: options.maxRuns ?? DEFAULTS.maxRuns,
    claimBatch: options.claimBatch ?? DEFAULTS.claimBatch,
  }
}

/**
 * Compares a worker's wall clock with the store's (PostgreSQL): leases are
 * written with one and compared with another worker's, so a skew past a
 * third of the lease would let a worker take work whose holder is alive, or
 * keep a dead one's too long. Returns the `WORKER_CLOCK_SKEW` error when so
 * (the round trip's half is allowed for), else `undefined`.
 */
export async function clockSkew(
  queue: TaskQueue,
  clock: Clock,
  worker: string,
  leaseMs: number,
): Promise<FlotillaError | undefined> {
  const sent = clock.wallNow()
  const storeTime = await queue.storeTime()
  if (storeTime === undefined) return undefined
  const back = clock.wallNow()
  const skewMs = Math.round((sent + back) / 2 - storeTime)
  const allowed = leaseMs / 3 + (back - sent) / 2
  if (Math.abs(skewMs) <= allowed) return undefined
  return new FlotillaError(
    'WORKER_CLOCK_SKEW',
    `Worker ${worker}'s clock is ${Math.abs(skewMs)} ms ${skewMs > 0 ? 'ahead of' : 'behind'} the store's; leases of ${leaseMs} ms allow ${Math.round(leaseMs / 3)}. Synchronise this host's clock (NTP, chrony) or give the workers a longer leaseMs.`,
    {
      details: { worker, skewMs, leaseMs },
    },
  )
}

/** A `task.log` event of the worker itself (of no run unless `runId` is given). */
export function workerLog(
  clock: Clock,
  level: 'warn' | 'error',
  message: string,
  runId = '' as RunId,
  taskId = '' as TaskId,
): RunEvent {
  return { type: 'task.log', at: clock.wallNow(), runId, taskId, level, message }
}
