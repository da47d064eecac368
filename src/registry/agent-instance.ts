import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { newAgentId, type AgentId } from '../core/ids.js'
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from '../resilience/circuit-breaker.js'
import { AgentMetrics, type AgentMetricsSnapshot } from '../agents/agent-metrics.js'
import type { AgentInstanceInfo, AnyAgentDefinition } from '../agents/define-agent.js'
import type { AgentPool } from './agent-pool.js'

/**
 * Lifecycle of an {@link AgentInstance} in a registry: `STARTING` until its
 * `initialize` hook resolved, then `READY`; `FAILED` when the hook threw;
 * `STOPPED` once unregistered (final).
 */
export type AgentInstanceState = 'STARTING' | 'READY' | 'FAILED' | 'STOPPED'

/** Options of an {@link AgentInstance}. */
export interface AgentInstanceOptions {
  /** Clock of the circuit breaker and of health-check timeouts. @default systemClock */
  clock?: Clock
  /** Options of the instance's circuit breaker. @default { failureThreshold: 5, cooldownMs: 30000 } */
  circuitBreaker?: CircuitBreakerOptions
  /** 0-based position among the instances one registration started, told to the `initialize` and `healthCheck` hooks. @default 0 */
  index?: number
}

/** The result of a health check. */
export interface HealthReport {
  healthy: boolean
  /** Why it is unhealthy, or what the hook reported. */
  detail?: string
}

/** A JSON-safe view of an {@link AgentInstance}. */
export interface AgentInstanceSnapshot {
  id: AgentId
  agent: string
  version: string
  state: AgentInstanceState
  active: number
  circuit: CircuitState
  metrics: AgentMetricsSnapshot
}

/** Default time a health-check hook may take before it counts as unhealthy. */
const HEALTH_TIMEOUT_MS = 5_000

function describeError(value: unknown): string {
  if (value instanceof Error) return value.message || value.name
  return typeof value === 'string' ? value : String(value)
}

/**
 * One running incarnation of an agent definition: its own id, lifecycle
 * state, count of executions in flight, circuit breaker and metrics. The
 * {@link Registry} creates and starts instances; the scheduler takes them
 * from an {@link AgentPool}, which keeps `active`, the breaker and the
 * metrics up to date.
 *
 * @example
 * ```ts
 * const instance = new AgentInstance(defineAgent({ name: 'echo', handler: (x) => x }), { clock: systemClock })
 * await instance.start() // runs `initialize`, then state READY
 * instance.available // true: READY, below maxConcurrency, circuit closed
 * ```
 */
export class AgentInstance {
  /** Unique id of this instance (`agt_…`). */
  readonly id: AgentId = newAgentId()
  /** The definition this instance runs. */
  readonly definition: AnyAgentDefinition
  /** Executions in flight on this instance (kept by {@link AgentPool.acquire} / `release` / `abandon`). */
  active = 0
  /**
   * Executions that timed out but whose handler has not returned yet (it
   * ignored `ctx.signal`). They are counted in {@link AgentInstance.active}
   * too: their slots are held until the handler settles.
   */
  late = 0
  /** Lifecycle state. */
  state: AgentInstanceState = 'STARTING'
  /** The circuit breaker of this instance. */
  readonly breaker: CircuitBreaker
  /** What the `initialize` and `healthCheck` hooks are told about this instance. */
  readonly info: AgentInstanceInfo
  /** The pools this instance is a member of (kept by {@link AgentPool}). */
  readonly pools = new Set<AgentPool>()
  /**
   * False while a health monitor routes work around this instance (its
   * health is FAILED or RECOVERING); {@link AgentInstance.available} is then
   * false. Lifecycle `state` is a separate axis. @default true
   */
  routable = true
  private readonly clock: Clock
  private _metrics = new AgentMetrics()

  /** `name@version` of its definition. */
  readonly key: string

  constructor(definition: AnyAgentDefinition, options: AgentInstanceOptions = {}) {
    this.definition = definition
    this.key = `${definition.name}@${definition.version}`
    this.clock = options.clock ?? systemClock
    this.breaker = new CircuitBreaker(this.clock, options.circuitBreaker)
    this.info = Object.freeze({
      instanceId: this.id,
      index: options.index ?? 0,
      agent: definition.name,
      version: definition.version,
    })
  }

  /** Call statistics of this incarnation (a {@link AgentInstance.restart} starts new ones). */
  get metrics(): AgentMetrics {
    return this._metrics
  }

  /** True while fewer than `definition.maxConcurrency` executions are in flight. */
  get hasCapacity(): boolean {
    return this.active < this.definition.maxConcurrency
  }

  /** True when the instance can take an execution now: READY, routable, below capacity, circuit letting calls through. */
  get available(): boolean {
    return (
      this.state === 'READY' && this.routable && this.active < this.definition.maxConcurrency && this.breaker.canPass()
    )
  }

  /**
   * Runs the definition's `initialize` hook (if any), then marks the
   * instance READY. When the hook throws, the state becomes FAILED and
   * `AGENT_INIT_FAILED` is thrown with the hook's error as `cause`. A READY
   * instance is left as it is; a FAILED one may be started again; a STOPPED
   * one refuses with `AGENT_INIT_FAILED`, and one stopped while
   * initializing stays STOPPED.
   */
  async start(): Promise<void> {
    if (this.state === 'STOPPED') {
      throw new FlotillaError(
        'AGENT_INIT_FAILED',
        `Instance ${this.id} of agent "${this.definition.name}" was stopped; register the agent again to get a new instance.`,
        {
          details: this.errorDetails(),
        },
      )
    }
    if (this.state === 'READY') return
    await this.runInitialize()
  }

  /**
   * Stops and starts the instance again (the health monitor's self-healing):
   * a fresh incarnation, with new metrics (no calls, error rate 0) and its
   * circuit closed; state STARTING, the `initialize` hook runs again, then
   * READY, or FAILED with `AGENT_INIT_FAILED` as in
   * {@link AgentInstance.start}. Executions in flight finish (and are
   * recorded in the new metrics). A STOPPED instance refuses with
   * `AGENT_INIT_FAILED`.
   */
  async restart(): Promise<void> {
    if (this.state === 'STOPPED') return this.start()
    this._metrics = new AgentMetrics()
    this.breaker.reset()
    await this.runInitialize()
  }

  private async runInitialize(): Promise<void> {
    this.state = 'STARTING'
    try {
      await this.definition.initialize?.(this.info)
    } catch (err) {
      if (this.isStopped()) return
      this.state = 'FAILED'
      throw new FlotillaError(
        'AGENT_INIT_FAILED',
        `Agent "${this.definition.name}@${this.definition.version}" failed its initialize hook: ${describeError(err)}. Fix the hook or the resources it needs, then register the agent again.`,
        { cause: err, details: this.errorDetails() },
      )
    }
    if (!this.isStopped()) this.state = 'READY'
  }

  /** Marks the instance STOPPED: it takes no new executions; those in flight finish. */
  stop(): void {
    this.state = 'STOPPED'
  }

  /**
   * Asks the instance whether it is healthy. An instance that is not READY is
   * unhealthy. Without a `healthCheck` hook a READY instance is healthy; with
   * one, the hook decides, and a throw, a `false`, or no answer within
   * `timeoutMs` counts as unhealthy.
   */
  async checkHealth(timeoutMs: number = HEALTH_TIMEOUT_MS): Promise<HealthReport> {
    if (this.state !== 'READY') return { healthy: false, detail: `instance is ${this.state}` }
    const hook = this.definition.healthCheck
    if (!hook) return { healthy: true }
    let timer: ReturnType<Clock['setTimeout']> | undefined
    const timeout = new Promise<HealthReport>((resolve) => {
      timer = this.clock.setTimeout(
        () => resolve({ healthy: false, detail: `healthCheck did not answer within ${timeoutMs} ms` }),
        timeoutMs,
      )
    })
    const check = (async (): Promise<HealthReport> => {
      try {
        return toReport(await hook(this.info))
      } catch (err) {
        return { healthy: false, detail: `healthCheck threw: ${describeError(err)}` }
      }
    })()
    try {
      return await Promise.race([check, timeout])
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer)
    }
  }

  /** A JSON-safe view of the instance now. */
  snapshot(): AgentInstanceSnapshot {
    return {
      id: this.id,
      agent: this.definition.name,
      version: this.definition.version,
      state: this.state,
      active: this.active,
      circuit: this.breaker.state,
      metrics: this.metrics.snapshot(),
    }
  }

  // A method, so that TypeScript does not narrow `state` across the awaits above.
  private isStopped(): boolean {
    return this.state === 'STOPPED'
  }

  private errorDetails(): Record<string, unknown> {
    return { agent: this.definition.name, version: this.definition.version, instanceId: this.id }
  }
}

function toReport(value: unknown): HealthReport {
  if (value === true) return { healthy: true }
  if (value === false) return { healthy: false, detail: 'healthCheck returned false' }
  if (typeof value === 'object' && value !== null && typeof (value as { healthy?: unknown }).healthy === 'boolean') {
    const { healthy, detail } = value as { healthy: boolean; detail?: unknown }
    return detail === undefined ? { healthy } : { healthy, detail: String(detail) }
  }
  return {
    healthy: false,
    detail: `healthCheck returned ${describeError(value)}; return a boolean or { healthy, detail }`,
  }
}
