import { z } from 'zod'
import type { Clock } from '../core/clock.js'
import type { CircuitBreakerOptions } from '../resilience/circuit-breaker.js'
import type { LoadBalancingStrategy } from './load-balancer.js'

/** Options of a `Registry`. */
export interface RegistryOptions {
  /** Clock of circuit breakers and health-check timeouts. @default systemClock */
  clock?: Clock
  /** How pools choose among instances. @default 'round-robin' */
  strategy?: LoadBalancingStrategy
  /** Options of every instance's circuit breaker. @default { failureThreshold: 5, cooldownMs: 30000 } */
  circuitBreaker?: CircuitBreakerOptions
}

/** Options of `Registry.register`. */
export interface RegisterOptions {
  /** Instances to create and start. @default 1 */
  instances?: number
  /**
   * When this `name@version` is already registered, replace it instead of
   * refusing with `AGENT_DUPLICATE`: the new instances start first, then the
   * old definition is retired with `drain` (see {@link UnregisterOptions})
   * and the new one takes its place at once, with no moment where the
   * version has no instance. @default false
   */
  replace?: boolean
}

/** Options of `Registry.unregister`. */
export interface UnregisterOptions {
  /**
   * Retire gently. The version leaves every lookup and shared pool at once
   * (new runs, the latest-version pool and capability pools no longer see
   * it), but its exact-version pool, while pinned by the runs that resolved
   * it (`AgentPool.pin`), keeps serving them with the same instances
   * (the same code) and is retired when its last pin is released. Without
   * pins it is the same as `drain: false`: instances STOPPED at once. @default false
   */
  drain?: boolean
}

/** A retired version still serving the runs that pinned its pool. */
export interface DrainingVersion {
  agent: string
  version: string
  /** Pins still held on its pool. */
  pins: number
  /** Its instances, still READY for the pinned pool. */
  instances: number
}

/** Validates {@link RegistryOptions}. @internal */
export const registryOptionsSchema = z
  .object({
    clock: z
      .custom<Clock>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { now?: unknown }).now === 'function',
        'clock must implement Clock',
      )
      .optional(),
    strategy: z.enum(['round-robin', 'least-loaded', 'performance']).optional(),
    circuitBreaker: z.looseObject({}).optional(),
  })
  .strict()

/** Validates `RegisterOptions.instances`. @internal */
export const instancesSchema = z.number().int().min(1).max(10_000)
