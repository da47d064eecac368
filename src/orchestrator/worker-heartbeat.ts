/**
 * A started {@link Worker}'s heartbeat: it renews the leases of the runs it
 * holds (learning of pause, cancel and runs ended elsewhere) and of the
 * attempts it runs, advertises the worker in the stored catalog and reads
 * the live workers back, and compares its clock with the store's now and
 * then.
 *
 * @module
 */
import { hostname } from 'node:os'
import type { Clock } from '../core/clock.js'
import type { FlotillaError } from '../core/errors.js'
import type { Registry } from '../registry/registry.js'
import type { TaskQueue, WorkerRecord } from '../store/queue.js'
import { errorFields, type Logger } from '../telemetry/telemetry.js'
import type { Coordinator } from '../workflows/coordinator.js'
import type { Executor } from '../workflows/executor.js'
import type { EventHub } from './event-hub.js'
import { registryCatalog } from './worker-catalog.js'
import { clockSkew, SKEW_CHECK_MS, workerLog } from './worker-options.js'

/** What a {@link WorkerHeartbeat} works with. */
export interface WorkerHeartbeatParts {
  readonly id: string
  readonly queue: TaskQueue
  readonly clock: Clock
  readonly registry: Registry
  readonly coordinator: Coordinator
  readonly executor: Executor
  readonly concurrency: number
  readonly leaseMs: number
  readonly logger: Logger
  readonly hub: EventHub
}

/** The heartbeat of one start of a worker. */
export class WorkerHeartbeat {
  /** The live workers of the catalog, as last read (this one included). */
  catalog: readonly WorkerRecord[] = []
  private readonly startedAt: number
  /** When the clock was last compared with the store's. */
  private skewCheckedAt = 0

  constructor(private readonly p: WorkerHeartbeatParts) {
    this.startedAt = p.clock.wallNow()
  }

  /** The `WORKER_CLOCK_SKEW` error when this host's clock is too far off the store's (see {@link clockSkew}). */
  async skew(): Promise<FlotillaError | undefined> {
    const { queue, clock, id, leaseMs } = this.p
    const skew = await clockSkew(queue, clock, id, leaseMs)
    this.skewCheckedAt = clock.wallNow()
    return skew
  }

  /** Writes this worker into the catalog and reads the live workers back. */
  async advertise(): Promise<void> {
    const { queue, clock } = this.p
    const now = clock.wallNow()
    await queue.advertise({
      id: this.p.id,
      ...registryCatalog(this.p.registry),
      host: hostname(),
      pid: process.pid,
      concurrency: this.p.concurrency,
      startedAt: this.startedAt,
      heartbeatAt: now,
    })
    this.catalog = await queue.listWorkers(now - this.p.leaseMs)
  }

  /** One beat: leases of runs and attempts, the catalog, and the clock when a minute passed. */
  async beat(): Promise<void> {
    const { queue, coordinator, clock } = this.p
    const held = coordinator.runIds()
    const renewed = await queue.renewRuns(this.p.id, held, this.p.leaseMs)
    const kept = new Set(renewed.map((r) => r.runId))
    for (const id of held) if (!kept.has(id)) coordinator.drop(id)
    for (const r of renewed) {
      coordinator.observe(r.runId, r.state)
      if (r.state === 'CANCELLED' || r.state === 'FAILED' || r.state === 'SUCCEEDED') await queue.dropRun(r.runId)
    }
    await this.p.executor.heartbeat()
    await this.advertise()
    if (clock.wallNow() - this.skewCheckedAt >= SKEW_CHECK_MS) {
      this.skewCheckedAt = clock.wallNow()
      const skew = await clockSkew(queue, clock, this.p.id, this.p.leaseMs)
      if (skew !== undefined) {
        this.p.logger.error(errorFields(skew), 'the worker clock drifted from the store clock')
        this.p.hub.deliver([workerLog(clock, 'error', `${skew.code}: ${skew.message}`)])
      }
    }
  }
}
