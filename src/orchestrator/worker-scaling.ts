/**
 * Auto-scaling in a {@link Worker}: the demand of an agent is read from the
 * shared queue (its claimable attempts, and the age of the oldest), the
 * worker's own instances are added and removed through its registry.
 *
 * @module
 */
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import type { ResolvedScaling } from '../agents/scaling.js'
import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { Registry } from '../registry/registry.js'
import type { QueueSelector, QueueWaiting, TaskQueue } from '../store/queue.js'
import type { Logger } from '../telemetry/telemetry.js'
import { Autoscaler } from './autoscaler.js'
import type { EventHub } from './event-hub.js'
import { registeredTarget } from './scaling-targets.js'

/** What a {@link WorkerScaling} works with. */
export interface WorkerScalingOptions {
  readonly registry: Registry
  readonly clock: Clock
  readonly hub: EventHub
  readonly logger: Logger
  /** Most attempts the worker runs at once: instances past what fills it would add nothing. */
  readonly concurrency: number
  /** Time between two checks, in ms. @default max(250, min(1000, the smallest `maxWaitMs`)) */
  readonly intervalMs?: number
}

interface Scaled {
  readonly definition: AnyAgentDefinition
  readonly scaling: ResolvedScaling
  /** Its demand at the last refresh. */
  waiting: QueueWaiting
}

const NONE: QueueWaiting = { count: 0, oldestMs: 0 }

/**
 * The autoscaler of a worker: every check reads, in one query, the
 * claimable attempts of each scaled agent version in the shared queue
 * (those naming it, by any version it satisfies, and those asking for one
 * of its capabilities), and applies {@link decideScaling} to them and to the
 * worker's own instances: an instance added makes the worker claim more at
 * once; an idle one is removed after the cooldown, never one running an
 * attempt. `max` bounds the instances of this worker: N workers may run N ×
 * `max`. Checks run on their own timer, off the claim loop, and only while
 * some agent is scaled.
 */
export class WorkerScaling {
  private readonly scaled = new Map<string, Scaled>()
  private scaler: Autoscaler | undefined
  private wake: () => void = () => undefined

  constructor(private readonly o: WorkerScalingOptions) {
    const ms = o.intervalMs
    if (ms !== undefined && !(ms > 0))
      throw new FlotillaError('VALIDATION_FAILED', `scalingIntervalMs must be a positive number of ms; got ${ms}.`, {
        details: { scalingIntervalMs: ms },
      })
  }

  /** Scales `definition` (registered with `scaling`): from the next start, or now when started. */
  watch(definition: AnyAgentDefinition, scaling: ResolvedScaling): void {
    const scaled: Scaled = { definition, scaling, waiting: NONE }
    this.scaled.set(`${definition.name}@${definition.version}`, scaled)
    if (this.scaler !== undefined) this.scaler.watch(this.target(scaled))
  }

  /** Starts the checks on the worker's queue; `wake` makes the worker look at the queue again (an instance was added). */
  start(queue: TaskQueue, wake: () => void): void {
    this.stop()
    this.wake = wake
    let least = Infinity
    for (const s of this.scaled.values()) least = Math.min(least, s.scaling.maxWaitMs)
    const scaler = (this.scaler = new Autoscaler({
      clock: this.o.clock,
      intervalMs: this.o.intervalMs ?? Math.max(250, Math.min(1000, least)),
      logger: this.o.logger,
      onScaled: (e) => {
        this.o.logger.info(
          { agent: e.agent, from: e.from, to: e.to, reason: e.reason },
          `auto-scaling: "${e.agent}" ${e.from} → ${e.to} instance(s) (${e.reason})`,
        )
        this.o.hub.deliver([e])
      },
      refresh: () => this.refresh(queue),
    }))
    for (const s of this.scaled.values()) scaler.watch(this.target(s))
  }

  /** Stops the checks; the instances stay as they are. */
  stop(): void {
    this.scaler?.stop()
    this.scaler = undefined
  }

  /** Checks every scaled agent once now (what the timer does); resolves when the changes are applied. */
  async check(): Promise<void> {
    await this.scaler?.check()
  }

  /** Reads the demand of every scaled agent version that still has instances, in one query. */
  private async refresh(queue: TaskQueue): Promise<void> {
    const selectors: QueueSelector[] = []
    const owners: Scaled[] = []
    const live = new Set(this.o.registry.instances().map((i) => i.definition))
    for (const [key, s] of this.scaled) {
      if (!live.has(s.definition)) {
        this.scaled.delete(key) // unregistered
        continue
      }
      const { name, version, capabilities } = s.definition
      selectors.push({ agent: name, versions: [version] })
      owners.push(s)
      for (const capability of capabilities ?? []) {
        selectors.push({ capability, agent: name })
        owners.push(s)
      }
    }
    const found = await queue.waiting(selectors)
    for (const s of this.scaled.values()) s.waiting = NONE
    found.forEach((w, i) => {
      const s = owners[i]
      s.waiting = { count: s.waiting.count + w.count, oldestMs: Math.max(s.waiting.oldestMs, w.oldestMs) }
    })
  }

  private target(s: Scaled): ReturnType<typeof registeredTarget> {
    const demand = { waiting: () => s.waiting.count, capacityAdded: () => this.wake() }
    return {
      ...registeredTarget(this.o.registry, demand, s.definition, s.scaling),
      waitingForMs: () => s.waiting.oldestMs,
      fit: (from, wanted) => this.fit(s.definition, from, wanted),
    }
  }

  /**
   * The worker's limit: it runs at most `concurrency` attempts at once, so
   * instances past `ceil(concurrency / maxConcurrency)` would never get one
   * (an agent without `maxConcurrency` is never scaled past one instance).
   */
  private fit(
    definition: AnyAgentDefinition,
    from: number,
    wanted: number,
  ): { to: number; reason: string } | undefined {
    const each = definition.maxConcurrency
    const { concurrency } = this.o
    const room = Math.max(1, Math.ceil(concurrency / each))
    if (wanted <= room) return undefined
    const slots = each === Infinity ? 'no limit' : `${each} at once`
    return {
      to: Math.max(from, room),
      reason: `the worker runs at most ${concurrency} attempts at once (concurrency) and ${room} instance(s) of ${slots} take them all`,
    }
  }
}
