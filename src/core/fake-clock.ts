import type { Clock, TimerHandle } from './clock.js'

interface FakeTimer {
  id: number
  at: number
  fn: () => void
}

/**
 * A clock that only moves when told to. Timers fire in order during
 * {@link FakeClock.advance}.
 *
 * @example
 * ```ts
 * const clock = new FakeClock()
 * clock.setTimeout(() => console.log('fired'), 100)
 * await clock.advance(100) // prints "fired"
 * ```
 */
export class FakeClock implements Clock {
  private t: number
  private wallStart: number
  private seq = 0
  private timers: FakeTimer[] = []

  constructor(start = 0, wallStart = Date.UTC(2026, 0, 1)) {
    this.t = start
    this.wallStart = wallStart
  }

  now(): number {
    return this.t
  }

  wallNow(): number {
    return this.wallStart + this.t
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn }
    this.timers.push(timer)
    return { __timer: true, id: timer.id } as unknown as TimerHandle
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as unknown as { id: number }).id
    this.timers = this.timers.filter((t) => t.id !== id)
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.length
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting
   * promise callbacks run between them.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance needs ms ≥ 0, got ${ms}`)
    const target = this.t + ms
    await flushMicrotasks()
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id)
      const next = this.timers[0]
      if (!next || next.at > target) break
      this.timers.shift()
      this.t = next.at
      next.fn()
      await flushMicrotasks()
    }
    this.t = target
    await flushMicrotasks()
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve()
  await new Promise<void>((resolve) => setImmediate(resolve))
}
