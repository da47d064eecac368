import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'

describe('FakeClock', () => {
  it('starts at the given time and only moves on advance', async () => {
    const clock = new FakeClock(250, Date.UTC(2030, 5, 1))
    expect(clock.now()).toBe(250)
    expect(clock.wallNow()).toBe(Date.UTC(2030, 5, 1) + 250)
    await clock.advance(50)
    expect(clock.now()).toBe(300)
    expect(clock.wallNow()).toBe(Date.UTC(2030, 5, 1) + 300)
  })

  it('defaults to 0 and 2026-01-01 UTC', () => {
    const clock = new FakeClock()
    expect(clock.now()).toBe(0)
    expect(clock.wallNow()).toBe(Date.UTC(2026, 0, 1))
  })

  it('fires timers in time order, ties in scheduling order, each at its own time', async () => {
    const clock = new FakeClock()
    const fired: string[] = []
    const at = (label: string) => () => fired.push(`${label}@${clock.now()}`)
    clock.setTimeout(at('c'), 300)
    clock.setTimeout(at('a'), 100)
    clock.setTimeout(at('b1'), 200)
    clock.setTimeout(at('b2'), 200)
    clock.setTimeout(at('z'), 0)
    await clock.advance(250)
    expect(fired).toEqual(['z@0', 'a@100', 'b1@200', 'b2@200'])
    expect(clock.now()).toBe(250)
    expect(clock.pendingTimers).toBe(1)
    await clock.advance(50)
    expect(fired).toEqual(['z@0', 'a@100', 'b1@200', 'b2@200', 'c@300'])
    expect(clock.pendingTimers).toBe(0)
  })

  it('does not fire a timer before its time', async () => {
    const clock = new FakeClock()
    let fired = false
    clock.setTimeout(() => (fired = true), 100)
    await clock.advance(99)
    expect(fired).toBe(false)
    await clock.advance(1)
    expect(fired).toBe(true)
  })

  it('treats a negative delay as 0', async () => {
    const clock = new FakeClock(10)
    let firedAt = -1
    clock.setTimeout(() => (firedAt = clock.now()), -50)
    await clock.advance(0)
    expect(firedAt).toBe(10)
  })

  it('clearTimeout cancels only the given timer', async () => {
    const clock = new FakeClock()
    const fired: string[] = []
    const a = clock.setTimeout(() => fired.push('a'), 10)
    clock.setTimeout(() => fired.push('b'), 10)
    clock.clearTimeout(a)
    expect(clock.pendingTimers).toBe(1)
    await clock.advance(100)
    expect(fired).toEqual(['b'])
    clock.clearTimeout(a) // clearing twice is harmless
    expect(clock.pendingTimers).toBe(0)
  })

  it('fires a timer scheduled by another timer within the same advance', async () => {
    const clock = new FakeClock()
    const fired: number[] = []
    clock.setTimeout(() => {
      fired.push(clock.now())
      clock.setTimeout(() => fired.push(clock.now()), 30)
    }, 20)
    await clock.advance(100)
    expect(fired).toEqual([20, 50])
  })

  it('lets promise chains run between timers', async () => {
    const clock = new FakeClock()
    const log: string[] = []
    const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms))
    const task = (async () => {
      await sleep(100)
      log.push(`woke@${clock.now()}`)
      await Promise.resolve()
      await Promise.resolve()
      await sleep(100) // scheduled from a continuation: must still fire in this advance
      log.push(`woke again@${clock.now()}`)
    })()
    clock.setTimeout(() => log.push(`timer@${clock.now()}`), 150)
    await clock.advance(250)
    await task
    expect(log).toEqual(['woke@100', 'timer@150', 'woke again@200'])
    expect(clock.now()).toBe(250)
  })

  it('runs a continuation before a later timer observes its effect', async () => {
    const clock = new FakeClock()
    let value = 0
    void new Promise<void>((resolve) => clock.setTimeout(resolve, 10)).then(() => {
      value = 1
    })
    let seen = -1
    clock.setTimeout(() => (seen = value), 11)
    await clock.advance(20)
    expect(seen).toBe(1)
  })
})

// Regression tests for edge cases found while writing this suite.
describe('edge cases of FakeClock', () => {
  it('never moves time backwards (advance with a negative ms)', async () => {
    const clock = new FakeClock(100)
    await clock.advance(-50).catch(() => undefined)
    expect(clock.now()).toBe(100)
  })
})
