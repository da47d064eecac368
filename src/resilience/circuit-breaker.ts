import { z } from 'zod'
import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'

/** States of a {@link CircuitBreaker}. */
export type CircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN'

/** Options of a {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  failureThreshold?: number
  /** Milliseconds the circuit stays open before one probe is let through. @default 30000 */
  cooldownMs?: number
}

const optionsSchema = z
  .object({ failureThreshold: z.number().int().min(1).optional(), cooldownMs: z.number().min(0).optional() })
  .strict()

/**
 * A circuit breaker: `CLOSED` → `OPEN` after `failureThreshold` consecutive
 * failures → `HALF_OPEN` after `cooldownMs` → one probe; its success closes
 * the circuit, its failure opens it again for another cooldown.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker(systemClock, { failureThreshold: 5, cooldownMs: 30_000 })
 * if (breaker.tryAcquire()) { try { await call(); breaker.onSuccess() } catch { breaker.onFailure() } }
 * ```
 */
export class CircuitBreaker {
  readonly failureThreshold: number
  readonly cooldownMs: number
  private _state: CircuitState = 'CLOSED'
  private failures = 0
  private openedAt = 0
  private probing = false

  constructor(
    private readonly clock: Clock,
    options: CircuitBreakerOptions = {},
  ) {
    const parsed = optionsSchema.safeParse(options)
    if (!parsed.success) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Invalid circuit breaker options: ${parsed.error.issues[0]?.message}.`,
      )
    }
    this.failureThreshold = options.failureThreshold ?? 5
    this.cooldownMs = options.cooldownMs ?? 30_000
  }

  /** The state now (an open circuit whose cooldown has passed reads as `HALF_OPEN`). */
  get state(): CircuitState {
    if (this._state === 'OPEN' && this.clock.now() - this.openedAt >= this.cooldownMs) this._state = 'HALF_OPEN'
    return this._state
  }

  /** Consecutive failures counted so far. */
  get consecutiveFailures(): number {
    return this.failures
  }

  /** True when a call may go through now (without taking the half-open probe slot). */
  canPass(): boolean {
    const s = this.state
    return s === 'CLOSED' || (s === 'HALF_OPEN' && !this.probing)
  }

  /** Takes permission for one call: always when closed, once when half-open. */
  tryAcquire(): boolean {
    const s = this.state
    if (s === 'CLOSED') return true
    if (s === 'HALF_OPEN' && !this.probing) {
      this.probing = true
      return true
    }
    return false
  }

  /** Records a successful call. */
  onSuccess(): void {
    // A late result of a call admitted before the circuit opened does not close it.
    if (this.state === 'OPEN') return
    this.failures = 0
    this.probing = false
    this._state = 'CLOSED'
  }

  /** Records a failed call. */
  onFailure(): void {
    this.failures++
    // A late failure while open does not extend the cooldown.
    if (this.state === 'OPEN') return
    if (this.probing || this._state === 'HALF_OPEN' || this.failures >= this.failureThreshold) {
      this._state = 'OPEN'
      this.openedAt = this.clock.now()
      this.probing = false
    }
  }

  /** Releases a half-open probe slot without judging it (the call was cancelled). */
  onAbandon(): void {
    this.probing = false
  }

  /** Closes the circuit and forgets the failures. */
  reset(): void {
    this.failures = 0
    this.probing = false
    this._state = 'CLOSED'
  }
}
