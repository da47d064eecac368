import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { isFlotillaError, type FlotillaError } from '../../src/core/errors.js'
import { createDeadline } from '../../src/resilience/deadline.js'

describe('createDeadline', () => {
  it('aborts after exactly timeoutMs with a TASK_TIMEOUT FlotillaError', async () => {
    const clock = new FakeClock()
    const deadline = createDeadline(clock, 5_000, 'fetching the page')
    const seen: number[] = []
    deadline.signal.addEventListener('abort', () => seen.push(clock.now()))

    await clock.advance(4_999)
    expect(deadline.signal.aborted).toBe(false)
    await clock.advance(1)
    expect(deadline.signal.aborted).toBe(true)
    expect(seen).toEqual([5_000])

    const reason: unknown = deadline.signal.reason
    expect(isFlotillaError(reason)).toBe(true)
    const err = reason as FlotillaError
    expect(err.code).toBe('TASK_TIMEOUT')
    expect(err.retryable).toBe(true)
    expect(err.status).toBe(504)
    expect(err.details).toEqual({ timeoutMs: 5_000 })
    expect(err.message).toContain('fetching the page')
    expect(err.message).toContain('5000 ms')
  })

  it('rejects a pending operation listening on the signal with the reason', async () => {
    const clock = new FakeClock()
    const deadline = createDeadline(clock, 100)
    const work = new Promise<string>((_resolve, reject) => {
      deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason as Error))
    })
    const settled = work.then(
      () => 'resolved',
      (err: unknown) => (isFlotillaError(err) ? err.code : 'other'),
    )
    await clock.advance(100)
    await expect(settled).resolves.toBe('TASK_TIMEOUT')
  })

  it('never aborts once clear() is called', async () => {
    const clock = new FakeClock()
    const deadline = createDeadline(clock, 1_000)
    expect(clock.pendingTimers).toBe(1)
    await clock.advance(999)
    deadline.clear()
    expect(clock.pendingTimers).toBe(0)
    await clock.advance(10_000)
    expect(deadline.signal.aborted).toBe(false)
    expect(deadline.signal.reason).toBeUndefined()
  })

  it('tolerates clear() after it fired, keeping the abort', async () => {
    const clock = new FakeClock()
    const deadline = createDeadline(clock, 10)
    await clock.advance(10)
    deadline.clear()
    expect(deadline.signal.aborted).toBe(true)
  })

  it('gives each deadline its own timer', async () => {
    const clock = new FakeClock()
    const short = createDeadline(clock, 10)
    const long = createDeadline(clock, 20)
    await clock.advance(10)
    expect([short.signal.aborted, long.signal.aborted]).toEqual([true, false])
    await clock.advance(10)
    expect(long.signal.aborted).toBe(true)
  })
})
