import { describe, expect, it } from 'vitest'
import { systemClock } from '../../src/core/clock.js'

/** Real time passes here on purpose: this file tests the real clock itself. */
function waitReal(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

describe('systemClock', () => {
  it('has a non-decreasing now() and a wallNow() near Date.now()', () => {
    const a = systemClock.now()
    const b = systemClock.now()
    expect(b).toBeGreaterThanOrEqual(a)
    expect(Math.abs(systemClock.wallNow() - Date.now())).toBeLessThan(1_000)
  })

  it('fires a timer and cancels another', async () => {
    const fired: string[] = []
    systemClock.setTimeout(() => fired.push('kept'), 1)
    const cancelled = systemClock.setTimeout(() => fired.push('cancelled'), 1)
    systemClock.clearTimeout(cancelled)
    await waitReal(30)
    expect(fired).toEqual(['kept'])
  })

  it('keeps the process alive while a timer is pending (a retry backoff must not let a script exit mid-run)', () => {
    const handle = systemClock.setTimeout(() => undefined, 60_000) as NodeJS.Timeout
    expect(handle.hasRef()).toBe(true)
    systemClock.clearTimeout(handle)
  })
})

// Node clamps a delay above 2^31 − 1 ms (about 24.8 days) to 1 ms, so a long
// deadline would fire at once; systemClock clamps the delay instead.
describe('systemClock long delays', () => {
  it('does not fire a timer of more than 2^31 - 1 ms almost at once', async () => {
    let fired = false
    const handle = systemClock.setTimeout(() => (fired = true), 2 ** 31)
    await waitReal(30)
    systemClock.clearTimeout(handle)
    expect(fired).toBe(false)
  })
})
