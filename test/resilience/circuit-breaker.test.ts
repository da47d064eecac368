import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { isFlotillaError, type FlotillaError } from '../../src/core/errors.js'
import { CircuitBreaker, type CircuitBreakerOptions } from '../../src/resilience/circuit-breaker.js'

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.onFailure()
}

/** A breaker with the defaults (5 failures, 30 s), opened now. */
function opened(clock: FakeClock): CircuitBreaker {
  const breaker = new CircuitBreaker(clock)
  fail(breaker, 5)
  expect(breaker.state).toBe('OPEN')
  return breaker
}

describe('CircuitBreaker', () => {
  it('has the documented defaults and starts CLOSED', () => {
    const breaker = new CircuitBreaker(new FakeClock())
    expect(breaker.failureThreshold).toBe(5)
    expect(breaker.cooldownMs).toBe(30_000)
    expect(breaker.state).toBe('CLOSED')
    expect(breaker.canPass()).toBe(true)
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(true)
  })

  it('stays CLOSED after 4 consecutive failures and opens on exactly the 5th', () => {
    const breaker = new CircuitBreaker(new FakeClock())
    fail(breaker, 4)
    expect(breaker.state).toBe('CLOSED')
    expect(breaker.consecutiveFailures).toBe(4)
    expect(breaker.tryAcquire()).toBe(true)
    breaker.onFailure()
    expect(breaker.state).toBe('OPEN')
    expect(breaker.consecutiveFailures).toBe(5)
    expect(breaker.canPass()).toBe(false)
    expect(breaker.tryAcquire()).toBe(false)
  })

  it('resets the count on a success, so failures must be consecutive', () => {
    const breaker = new CircuitBreaker(new FakeClock())
    fail(breaker, 4)
    breaker.onSuccess()
    expect(breaker.consecutiveFailures).toBe(0)
    fail(breaker, 4)
    expect(breaker.state).toBe('CLOSED')
    breaker.onFailure()
    expect(breaker.state).toBe('OPEN')
  })

  it('stays OPEN until the cooldown has fully passed, then reads HALF_OPEN', async () => {
    const clock = new FakeClock(1_000)
    const breaker = opened(clock)
    await clock.advance(29_999)
    expect(breaker.state).toBe('OPEN')
    expect(breaker.canPass()).toBe(false)
    expect(breaker.tryAcquire()).toBe(false)
    await clock.advance(1)
    expect(breaker.state).toBe('HALF_OPEN')
    expect(breaker.canPass()).toBe(true)
  })

  it('lets exactly one probe through when HALF_OPEN', async () => {
    const clock = new FakeClock()
    const breaker = opened(clock)
    await clock.advance(30_000)
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.canPass()).toBe(false)
    expect(breaker.tryAcquire()).toBe(false)
    expect(breaker.tryAcquire()).toBe(false)
    expect(breaker.state).toBe('HALF_OPEN')
  })

  it('closes when the probe succeeds', async () => {
    const clock = new FakeClock()
    const breaker = opened(clock)
    await clock.advance(30_000)
    expect(breaker.tryAcquire()).toBe(true)
    breaker.onSuccess()
    expect(breaker.state).toBe('CLOSED')
    expect(breaker.consecutiveFailures).toBe(0)
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(true)
    // The count starts again from zero: 4 new failures do not reopen it.
    fail(breaker, 4)
    expect(breaker.state).toBe('CLOSED')
  })

  it('re-opens for a full new cooldown when the probe fails', async () => {
    const clock = new FakeClock()
    const breaker = opened(clock)
    await clock.advance(30_000)
    expect(breaker.tryAcquire()).toBe(true)
    await clock.advance(5_000) // the probe takes 5 s, then fails
    breaker.onFailure()
    expect(breaker.state).toBe('OPEN')
    expect(breaker.tryAcquire()).toBe(false)
    await clock.advance(29_999)
    expect(breaker.state).toBe('OPEN')
    expect(breaker.tryAcquire()).toBe(false)
    await clock.advance(1)
    expect(breaker.state).toBe('HALF_OPEN')
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(false)
  })

  it('re-opens on a half-open failure even with a high threshold', async () => {
    const clock = new FakeClock()
    const breaker = new CircuitBreaker(clock, { failureThreshold: 3, cooldownMs: 100 })
    fail(breaker, 3)
    await clock.advance(100)
    expect(breaker.tryAcquire()).toBe(true)
    breaker.onFailure()
    expect(breaker.state).toBe('OPEN')
  })

  it('honours a custom threshold and cooldown', async () => {
    const clock = new FakeClock()
    const breaker = new CircuitBreaker(clock, { failureThreshold: 2, cooldownMs: 500 })
    breaker.onFailure()
    expect(breaker.state).toBe('CLOSED')
    breaker.onFailure()
    expect(breaker.state).toBe('OPEN')
    await clock.advance(499)
    expect(breaker.state).toBe('OPEN')
    await clock.advance(1)
    expect(breaker.state).toBe('HALF_OPEN')
  })

  it('opens on the first failure with failureThreshold 1', () => {
    const breaker = new CircuitBreaker(new FakeClock(), { failureThreshold: 1 })
    breaker.onFailure()
    expect(breaker.state).toBe('OPEN')
  })

  it.each<[string, CircuitBreakerOptions]>([
    ['failureThreshold 0', { failureThreshold: 0 }],
    ['negative failureThreshold', { failureThreshold: -1 }],
    ['fractional failureThreshold', { failureThreshold: 2.5 }],
    ['negative cooldownMs', { cooldownMs: -1 }],
    ['NaN cooldownMs', { cooldownMs: Number.NaN }],
    ['an unknown key', { threshold: 3 } as unknown as CircuitBreakerOptions],
  ])('rejects %s with VALIDATION_FAILED', (_label, options) => {
    let caught: unknown
    try {
      new CircuitBreaker(new FakeClock(), options)
    } catch (err) {
      caught = err
    }
    expect(isFlotillaError(caught)).toBe(true)
    expect((caught as FlotillaError).code).toBe('VALIDATION_FAILED')
  })

  it('frees the probe slot on onAbandon, without closing or re-opening', async () => {
    const clock = new FakeClock()
    const breaker = opened(clock)
    await clock.advance(30_000)
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(false)
    breaker.onAbandon()
    expect(breaker.state).toBe('HALF_OPEN')
    expect(breaker.canPass()).toBe(true)
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(false)
  })

  it('reset() closes an open circuit and forgets the failures', () => {
    const clock = new FakeClock()
    const breaker = opened(clock)
    breaker.reset()
    expect(breaker.state).toBe('CLOSED')
    expect(breaker.consecutiveFailures).toBe(0)
    expect(breaker.tryAcquire()).toBe(true)
  })
})

// Regression tests for edge cases found while writing this suite.
describe('edge cases of CircuitBreaker', () => {
  it('a late success of a call admitted before the circuit opened does not close it', () => {
    const breaker = opened(new FakeClock())
    breaker.onSuccess() // an in-flight call from before the 5th failure
    expect(breaker.state).toBe('OPEN')
  })

  it('a late failure of a call admitted before the circuit opened does not extend the cooldown', async () => {
    const clock = new FakeClock()
    const breaker = opened(clock)
    await clock.advance(20_000)
    breaker.onFailure() // an in-flight call from before the 5th failure
    await clock.advance(10_000)
    expect(breaker.state).toBe('HALF_OPEN')
  })
})
