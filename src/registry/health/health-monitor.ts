import { z } from 'zod'
import { systemClock, type Clock, type TimerHandle } from '../../core/clock.js'
import { FlotillaError } from '../../core/errors.js'
import type { AgentInstance, HealthReport } from '../agent-instance.js'
import type { Registry } from '../registry.js'

/**
 * Health of an agent instance, an axis separate from its lifecycle `state`:
 * - `INITIALIZING`: not judged yet (just seen, or its `initialize` hook is running);
 * - `HEALTHY`: checks pass and the observed metrics are within bounds;
 * - `DEGRADED`: still serving, but a check failed or errors or latency are high;
 * - `RECOVERING`: failed and being restarted (waiting for its backoff, or
 *   running `initialize` again); routed around;
 * - `FAILED`: failed and not being restarted (self-healing off, or out of
 *   restarts); routed around.
 */
export type HealthState = 'INITIALIZING' | 'HEALTHY' | 'DEGRADED' | 'RECOVERING' | 'FAILED'

/** The health of one instance and why. */
export interface HealthStatus {
  health: HealthState
  /** A human-readable reason, e.g. `error rate 0.36 > 0.2`. */
  detail: string
}

/** A change of health of one instance, given to {@link HealthMonitor.onTransition} listeners. */
export interface HealthTransition {
  instanceId: string
  agent: string
  version: string
  from: HealthState
  to: HealthState
  detail: string
  /** Wall-clock milliseconds (the monitor's clock). */
  at: number
}

/** Options of a {@link HealthMonitor}; every field has a default. */
export interface HealthMonitorOptions {
  /** Clock of the check rounds, restart backoff and check timeouts. @default systemClock */
  clock?: Clock
  /** Milliseconds between two periodic check rounds (after {@link HealthMonitor.start}). @default 30000 */
  intervalMs?: number
  /** Milliseconds a `healthCheck` hook may take before it counts as failed. @default 5000 */
  checkTimeoutMs?: number
  /** Consecutive failed checks that make an instance FAILED (one failed check makes it DEGRADED). @default 3 */
  failureThreshold?: number
  /** An instance whose moving-average error rate (`metrics.ewmaErrorRate`) exceeds this is DEGRADED. @default 0.2 */
  errorRateThreshold?: number
  /** An instance whose moving-average latency (`metrics.ewmaLatencyMs`) exceeds this is DEGRADED. @default Infinity (off) */
  latencyThresholdMs?: number
  /** Restart FAILED instances (state RECOVERING meanwhile). @default true */
  selfHeal?: boolean
  /** Delay before the first restart; each further restart doubles it. @default 1000 */
  backoffBaseMs?: number
  /** Longest delay between two restarts. @default 60000 */
  backoffMaxMs?: number
  /** Restarts in a row (without a HEALTHY periodic check between) before giving up, leaving the instance FAILED. @default Infinity */
  maxRestarts?: number
  /**
   * How an instance is restarted. @default `instance.restart()` (stop, then
   * `initialize` again), then `instance.breaker.reset()`
   */
  restart?: (instance: AgentInstance) => Promise<void>
}

type Resolved = Required<Omit<HealthMonitorOptions, 'restart'>> & {
  restart: (instance: AgentInstance) => Promise<void>
}

const positive = z.number().positive()
const optionsSchema = z
  .object({
    clock: z
      .custom<Clock>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { setTimeout?: unknown }).setTimeout === 'function',
        'clock must implement Clock',
      )
      .optional(),
    intervalMs: positive.optional(),
    checkTimeoutMs: positive.optional(),
    failureThreshold: z.number().int().min(1).optional(),
    errorRateThreshold: z.number().min(0).max(1).optional(),
    latencyThresholdMs: positive.optional(),
    selfHeal: z.boolean().optional(),
    backoffBaseMs: z.number().min(0).optional(),
    backoffMaxMs: z.number().min(0).optional(),
    maxRestarts: z.number().min(0).optional(),
    restart: z
      .custom<(instance: AgentInstance) => Promise<void>>((v) => typeof v === 'function', 'restart must be a function')
      .optional(),
  })
  .strict()

interface Tracked {
  readonly instance: AgentInstance
  health: HealthState
  detail: string
  /** Consecutive failed checks. */
  failures: number
  /** Restarts since the last HEALTHY periodic check: the backoff exponent. */
  restarts: number
  timer: TimerHandle | undefined
}

async function defaultRestart(instance: AgentInstance): Promise<void> {
  await instance.restart()
  instance.breaker.reset()
}

function describeError(value: unknown): string {
  if (value instanceof Error) return value.message || value.name
  return typeof value === 'string' ? value : String(value)
}

function unref(handle: TimerHandle): void {
  const node = handle as { unref?: () => void }
  node.unref?.()
}

/**
 * Watches the instances of a {@link Registry} and gives each a
 * {@link HealthState}, from periodic `healthCheck` results and from its
 * observed metrics, and heals the failed ones.
 *
 * Rules, in order, after each check (defaults in brackets):
 * 1. lifecycle `STARTING` → INITIALIZING;
 * 2. lifecycle `FAILED`, or circuit `OPEN`, or `failureThreshold` [3]
 *    consecutive failed checks → FAILED;
 * 3. one or more failed checks (fewer than the threshold), or
 *    `ewmaErrorRate > errorRateThreshold` [0.2], or
 *    `ewmaLatencyMs > latencyThresholdMs` [off] → DEGRADED;
 * 4. otherwise HEALTHY.
 *
 * Self-healing [on]: a FAILED instance turns RECOVERING and is restarted
 * (`instance.restart()`, i.e. `initialize` again, and its circuit reset)
 * after `min(backoffMaxMs, backoffBaseMs × 2^k)` [1 s, 2 s, 4 s … 60 s],
 * where `k` counts the restarts since the last HEALTHY periodic check. After
 * a restart the instance is checked at once; a failed restart is FAILED
 * again and waits twice as long. While FAILED or RECOVERING the instance's
 * `routable` is false, so pools route around it.
 *
 * Periodic rounds skip RECOVERING instances. Timers are unref'd: the
 * monitor does not keep a process alive.
 *
 * @example
 * ```ts
 * const monitor = new HealthMonitor(registry, { intervalMs: 10_000 })
 * monitor.onTransition((t) => console.log(`${t.agent} ${t.from} → ${t.to}: ${t.detail}`))
 * monitor.start()
 * await monitor.checkAll() // { agt_…: { health: 'HEALTHY', detail: 'ok' } }
 * ```
 */
export class HealthMonitor {
  private readonly registry: Pick<Registry, 'instances'>
  private readonly o: Resolved
  private readonly tracked = new Map<string, Tracked>()
  private readonly listeners = new Set<(transition: HealthTransition) => void>()
  private roundTimer: TimerHandle | undefined
  private round: Promise<Record<string, HealthStatus>> | undefined
  private _running = false

  constructor(registry: Pick<Registry, 'instances'>, options: HealthMonitorOptions = {}) {
    const parsed = optionsSchema.safeParse(options)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Invalid health monitor option "${issue?.path.join('.')}": ${issue?.message}.`,
        {
          details: { path: issue?.path.join('.') },
        },
      )
    }
    this.registry = registry
    this.o = {
      clock: options.clock ?? systemClock,
      intervalMs: options.intervalMs ?? 30_000,
      checkTimeoutMs: options.checkTimeoutMs ?? 5_000,
      failureThreshold: options.failureThreshold ?? 3,
      errorRateThreshold: options.errorRateThreshold ?? 0.2,
      latencyThresholdMs: options.latencyThresholdMs ?? Infinity,
      selfHeal: options.selfHeal ?? true,
      backoffBaseMs: options.backoffBaseMs ?? 1_000,
      backoffMaxMs: options.backoffMaxMs ?? 60_000,
      maxRestarts: options.maxRestarts ?? Infinity,
      restart: options.restart ?? defaultRestart,
    }
  }

  /** True between {@link HealthMonitor.start} and {@link HealthMonitor.stop}. */
  get running(): boolean {
    return this._running
  }

  /** Starts periodic check rounds, the first one `intervalMs` from now. Idempotent. */
  start(): void {
    if (this._running) return
    this._running = true
    this.scheduleRound()
  }

  /**
   * Stops periodic rounds and pending restarts, makes every instance
   * routable again (routing falls back to lifecycle and circuit) and forgets
   * the health states. A restart already running finishes unobserved.
   */
  stop(): void {
    this._running = false
    if (this.roundTimer !== undefined) this.o.clock.clearTimeout(this.roundTimer)
    this.roundTimer = undefined
    for (const t of this.tracked.values()) {
      if (t.timer !== undefined) this.o.clock.clearTimeout(t.timer)
      t.instance.routable = true
    }
    this.tracked.clear()
  }

  /**
   * Runs one check round now (joining the one in progress, if any): checks
   * every registered instance that is not RECOVERING, applies the rules, and
   * returns the health of every instance, keyed by instance id.
   */
  checkAll(): Promise<Record<string, HealthStatus>> {
    if (this.round === undefined) {
      this.round = this.runRound().finally(() => (this.round = undefined))
    }
    return this.round
  }

  /** The last known health of one instance, or `undefined` when it is not tracked. */
  health(instanceId: string): HealthStatus | undefined {
    const t = this.tracked.get(instanceId)
    return t === undefined ? undefined : { health: t.health, detail: t.detail }
  }

  /** The last known health of every tracked instance, without checking. */
  snapshot(): Record<string, HealthStatus> {
    const out: Record<string, HealthStatus> = {}
    for (const [id, t] of this.tracked) out[id] = { health: t.health, detail: t.detail }
    return out
  }

  /** Calls `listener` on every change of health; returns a function that unsubscribes. A listener that throws is ignored. */
  onTransition(listener: (transition: HealthTransition) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private scheduleRound(): void {
    const timer = this.o.clock.setTimeout(() => {
      this.roundTimer = undefined
      void this.checkAll()
        .catch(() => undefined)
        .finally(() => {
          if (this._running && this.roundTimer === undefined) this.scheduleRound()
        })
    }, this.o.intervalMs)
    unref(timer)
    this.roundTimer = timer
  }

  private async runRound(): Promise<Record<string, HealthStatus>> {
    this.sync()
    const due = [...this.tracked.values()].filter((t) => t.health !== 'RECOVERING')
    await Promise.all(due.map((t) => this.checkOne(t)))
    return this.snapshot()
  }

  /** Tracks new instances (INITIALIZING) and forgets unregistered ones. */
  private sync(): void {
    const seen = new Set<string>()
    for (const instance of this.registry.instances()) {
      seen.add(instance.id)
      if (!this.tracked.has(instance.id) && instance.state !== 'STOPPED') {
        this.tracked.set(instance.id, {
          instance,
          health: 'INITIALIZING',
          detail: 'not checked yet',
          failures: 0,
          restarts: 0,
          timer: undefined,
        })
      }
    }
    for (const [id, t] of this.tracked) if (!seen.has(id)) this.forget(t)
  }

  private forget(t: Tracked): void {
    if (t.timer !== undefined) this.o.clock.clearTimeout(t.timer)
    this.tracked.delete(t.instance.id)
  }

  /** False once `t` is no longer tracked (unregistered, or the monitor stopped). */
  private current(t: Tracked): boolean {
    return this.tracked.get(t.instance.id) === t
  }

  private async checkOne(t: Tracked): Promise<void> {
    const report = t.instance.state === 'READY' ? await t.instance.checkHealth(this.o.checkTimeoutMs) : undefined
    // A restart may have begun while the check ran: its own check decides.
    if (!this.current(t) || t.health === 'RECOVERING') return
    this.evaluate(t, report, true)
  }

  /** Applies the rules to `t` after a check (`report` is undefined when the instance was not READY). */
  private evaluate(t: Tracked, report: HealthReport | undefined, periodic: boolean): void {
    const inst = t.instance
    if (inst.state === 'STOPPED') return this.forget(t)
    if (inst.state === 'STARTING') return this.set(t, 'INITIALIZING', 'initialize is running')
    if (report !== undefined) t.failures = report.healthy ? 0 : t.failures + 1
    if (inst.state === 'FAILED') return this.fail(t, 'instance failed its initialize hook')
    if (inst.breaker.state === 'OPEN') return this.fail(t, 'circuit breaker is open')
    const why = report !== undefined && !report.healthy && report.detail !== undefined ? `: ${report.detail}` : ''
    if (t.failures >= this.o.failureThreshold)
      return this.fail(t, `${t.failures} consecutive health checks failed${why}`)
    if (t.failures > 0) return this.set(t, 'DEGRADED', `${t.failures} health check(s) failed${why}`)
    const m = inst.metrics
    if (m.ewmaErrorRate > this.o.errorRateThreshold) {
      return this.set(t, 'DEGRADED', `error rate ${m.ewmaErrorRate.toFixed(2)} > ${this.o.errorRateThreshold}`)
    }
    if (m.calls > 0 && m.ewmaLatencyMs > this.o.latencyThresholdMs) {
      return this.set(t, 'DEGRADED', `latency ${Math.round(m.ewmaLatencyMs)} ms > ${this.o.latencyThresholdMs} ms`)
    }
    if (periodic) t.restarts = 0
    this.set(t, 'HEALTHY', report?.detail ?? 'ok')
  }

  private fail(t: Tracked, detail: string): void {
    this.set(t, 'FAILED', detail)
    if (!this.o.selfHeal || t.restarts >= this.o.maxRestarts || t.timer !== undefined) return
    const delay = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** t.restarts)
    this.set(t, 'RECOVERING', `restart ${t.restarts + 1} in ${delay} ms (${detail})`)
    const timer = this.o.clock.setTimeout(() => {
      t.timer = undefined
      void this.restart(t)
    }, delay)
    unref(timer)
    t.timer = timer
  }

  private async restart(t: Tracked): Promise<void> {
    if (!this.current(t)) return
    t.restarts++
    this.set(t, 'RECOVERING', `restart ${t.restarts} running`)
    try {
      await this.o.restart(t.instance)
    } catch (err) {
      if (this.current(t)) this.fail(t, `restart ${t.restarts} failed: ${describeError(err)}`)
      return
    }
    if (!this.current(t)) return
    t.failures = 0
    const report = t.instance.state === 'READY' ? await t.instance.checkHealth(this.o.checkTimeoutMs) : undefined
    if (this.current(t)) this.evaluate(t, report, false)
  }

  private set(t: Tracked, health: HealthState, detail: string): void {
    const from = t.health
    t.health = health
    t.detail = detail
    t.instance.routable = health !== 'FAILED' && health !== 'RECOVERING'
    if (from === health) return
    const inst = t.instance
    const transition: HealthTransition = {
      instanceId: inst.id,
      agent: inst.definition.name,
      version: inst.definition.version,
      from,
      to: health,
      detail,
      at: this.o.clock.wallNow(),
    }
    for (const listener of this.listeners) {
      try {
        listener(transition)
      } catch {
        // A listener cannot break the monitor.
      }
    }
  }
}
