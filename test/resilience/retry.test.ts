import { describe, expect, it } from 'vitest'
import { FlotillaError, isFlotillaError, nonRetryable, type ErrorCode } from '../../src/core/errors.js'
import {
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  resolveRetryPolicy,
  shouldRetry,
  type RetryOptions,
} from '../../src/resilience/retry.js'

/** Calls `fn` and returns what it threw, failing the test if it did not throw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

const ALMOST_ONE = 1 - Number.EPSILON

describe('resolveRetryPolicy', () => {
  it('gives the documented defaults when no options are passed', () => {
    const policy = resolveRetryPolicy(undefined)
    expect(policy).toEqual({
      maxAttempts: 1,
      initialDelayMs: 100,
      multiplier: 2,
      maxDelayMs: 30_000,
      nonRetryableCodes: [],
    })
    expect(policy).toBe(DEFAULT_RETRY_POLICY)
    expect(Object.isFrozen(policy)).toBe(true)
  })

  it('fills missing fields from the defaults', () => {
    expect(resolveRetryPolicy({})).toEqual(DEFAULT_RETRY_POLICY)
    expect(resolveRetryPolicy({ maxAttempts: 4, nonRetryableCodes: ['TASK_TIMEOUT'] })).toEqual({
      maxAttempts: 4,
      initialDelayMs: 100,
      multiplier: 2,
      maxDelayMs: 30_000,
      nonRetryableCodes: ['TASK_TIMEOUT'],
    })
  })

  it('does not let a resolved policy mutate the defaults', () => {
    const policy = resolveRetryPolicy({ maxAttempts: 3 })
    policy.maxAttempts = 9
    expect(DEFAULT_RETRY_POLICY.maxAttempts).toBe(1)
  })

  it('raises maxDelayMs to initialDelayMs when it is lower', () => {
    expect(resolveRetryPolicy({ initialDelayMs: 500, maxDelayMs: 200 }).maxDelayMs).toBe(500)
  })

  it.each<[string, RetryOptions, string]>([
    ['maxAttempts 0', { maxAttempts: 0 }, 'maxAttempts'],
    ['negative maxAttempts', { maxAttempts: -1 }, 'maxAttempts'],
    ['fractional maxAttempts', { maxAttempts: 1.5 }, 'maxAttempts'],
    ['negative initialDelayMs', { initialDelayMs: -1 }, 'initialDelayMs'],
    ['negative maxDelayMs', { maxDelayMs: -10 }, 'maxDelayMs'],
    ['multiplier below 1', { multiplier: 0.5 }, 'multiplier'],
    ['NaN initialDelayMs', { initialDelayMs: Number.NaN }, 'initialDelayMs'],
  ])('rejects %s with VALIDATION_FAILED naming the field', (_label, options, field) => {
    const err = thrown(() => resolveRetryPolicy(options))
    expect(isFlotillaError(err)).toBe(true)
    expect((err as FlotillaError).code).toBe('VALIDATION_FAILED')
    expect((err as FlotillaError).details).toEqual({ path: field })
    expect((err as FlotillaError).message).toContain(`"${field}"`)
  })

  it('rejects unknown keys with VALIDATION_FAILED', () => {
    const err = thrown(() => resolveRetryPolicy({ maxAttemps: 3 } as unknown as RetryOptions))
    expect(isFlotillaError(err)).toBe(true)
    expect((err as FlotillaError).code).toBe('VALIDATION_FAILED')
    expect((err as FlotillaError).message).toContain('maxAttemps')
  })
})

describe('backoffDelay (full jitter)', () => {
  const policy = resolveRetryPolicy({ maxAttempts: 10, initialDelayMs: 100, multiplier: 2, maxDelayMs: 1_000 })

  it('draws 0 when random() is 0, on every attempt', () => {
    for (let attempt = 1; attempt <= 8; attempt++) expect(backoffDelay(policy, attempt, () => 0)).toBe(0)
  })

  it('draws half the cap when random() is 0.5: the cap doubles, then stays at maxDelayMs', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt, () => 0.5))
    expect(delays).toEqual([50, 100, 200, 400, 500, 500])
  })

  it('stays within [0, cap] when random() is just below 1', () => {
    const caps = [100, 200, 400, 800, 1_000, 1_000]
    caps.forEach((cap, i) => {
      const delay = backoffDelay(policy, i + 1, () => ALMOST_ONE)
      expect(delay).toBeGreaterThanOrEqual(cap - 1)
      expect(delay).toBeLessThanOrEqual(cap)
    })
  })

  it('uses the first cap for attempt 0 or below', () => {
    expect(backoffDelay(policy, 0, () => 0.5)).toBe(50)
  })

  it('returns an integer within [0, cap] for any random draw', () => {
    let seed = 7
    const random = (): number => {
      seed = (seed * 16807) % 2147483647
      return (seed - 1) / 2147483646
    }
    for (let attempt = 1; attempt <= 12; attempt++) {
      const cap = Math.min(1_000, 100 * 2 ** (attempt - 1))
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay(policy, attempt, random)
        expect(Number.isInteger(delay)).toBe(true)
        expect(delay).toBeGreaterThanOrEqual(0)
        expect(delay).toBeLessThanOrEqual(cap)
      }
    }
  })

  it('honours a custom multiplier', () => {
    const triple = resolveRetryPolicy({ initialDelayMs: 10, multiplier: 3, maxDelayMs: 10_000 })
    expect([1, 2, 3].map((a) => backoffDelay(triple, a, () => 0.5))).toEqual([5, 15, 45])
  })

  it('is always 0 when initialDelayMs is 0', () => {
    const none = resolveRetryPolicy({ initialDelayMs: 0 })
    expect(backoffDelay(none, 5, () => ALMOST_ONE)).toBe(0)
  })
})

describe('shouldRetry', () => {
  const three = resolveRetryPolicy({ maxAttempts: 3 })

  it('retries a plain Error while attempts remain, and stops when they are exhausted', () => {
    const err = new Error('flaky')
    expect([1, 2, 3, 4].map((attempt) => shouldRetry(three, attempt, err))).toEqual([true, true, false, false])
  })

  it('never retries under the default policy (maxAttempts 1)', () => {
    expect(shouldRetry(resolveRetryPolicy(undefined), 1, new Error('x'))).toBe(false)
  })

  it('retries non-Error throws (strings, undefined) like plain Errors', () => {
    expect(shouldRetry(three, 1, 'oops')).toBe(true)
    expect(shouldRetry(three, 1, undefined)).toBe(true)
  })

  it('retries codes the table marks retryable', () => {
    for (const code of [
      'TASK_FAILED',
      'TASK_TIMEOUT',
      'STORE_UNAVAILABLE',
      'AGENT_UNAVAILABLE',
      'CIRCUIT_OPEN',
    ] as const) {
      expect([code, shouldRetry(three, 1, new FlotillaError(code, 'x'))]).toEqual([code, true])
    }
  })

  it('does not retry codes the table marks non-retryable', () => {
    for (const code of [
      'VALIDATION_FAILED',
      'AGENT_INPUT_INVALID',
      'TASK_CANCELLED',
      'INTERNAL',
      'TASK_NON_RETRYABLE',
    ] as const) {
      expect([code, shouldRetry(three, 1, new FlotillaError(code, 'x'))]).toEqual([code, false])
    }
  })

  it('does not retry an error thrown through nonRetryable()', () => {
    expect(shouldRetry(three, 1, nonRetryable(new Error('bad input')))).toBe(false)
  })

  it('follows a per-error retryable override', () => {
    expect(shouldRetry(three, 1, new FlotillaError('TASK_FAILED', 'x', { retryable: false }))).toBe(false)
    expect(shouldRetry(three, 1, new FlotillaError('INTERNAL', 'x', { retryable: true }))).toBe(true)
  })

  it('does not retry codes listed in nonRetryableCodes, and still retries the others', () => {
    const codes: ErrorCode[] = ['TASK_TIMEOUT']
    const policy = resolveRetryPolicy({ maxAttempts: 5, nonRetryableCodes: codes })
    expect(shouldRetry(policy, 1, new FlotillaError('TASK_TIMEOUT', 'slow'))).toBe(false)
    expect(shouldRetry(policy, 1, new FlotillaError('TASK_FAILED', 'x'))).toBe(true)
    expect(shouldRetry(policy, 1, new Error('plain'))).toBe(true)
  })

  it('recognises a branded error from another package copy', () => {
    const foreign = Object.assign(new Error('x'), { code: 'TASK_FAILED', retryable: false })
    Object.defineProperty(foreign, Symbol.for('flotilla.error'), { value: true })
    expect(shouldRetry(three, 1, foreign)).toBe(false)
  })
})

// Regression tests for edge cases found while writing this suite.
describe('edge cases of resolveRetryPolicy', () => {
  it('ignores fields explicitly set to undefined instead of overriding the defaults with undefined', () => {
    const policy = resolveRetryPolicy({ maxAttempts: undefined, initialDelayMs: undefined })
    expect(policy.maxAttempts).toBe(1)
    expect(shouldRetry(policy, 50, new Error('x'))).toBe(false)
    expect(backoffDelay(policy, 1, () => 0.5)).toBe(50)
  })

  it('rejects a nonRetryableCodes entry that is not an error code', () => {
    const err = thrown(() => resolveRetryPolicy({ nonRetryableCodes: ['TASK_TIMEOT'] as unknown as ErrorCode[] }))
    expect((err as FlotillaError).code).toBe('VALIDATION_FAILED')
  })
})
