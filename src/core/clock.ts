/** An opaque handle to a scheduled timer. */
export type TimerHandle = { readonly __timer: true } | NodeJS.Timeout

/**
 * Time as Flotilla sees it. Inject a fake one in tests (see `FakeClock` in
 * `flotilla/testing`) so that retries, timeouts and circuit breakers run
 * without sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic, with sub-millisecond precision where available. */
  now(): number
  /** Wall-clock milliseconds since the epoch, for records and logs. */
  wallNow(): number
  /** Runs `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle
  /** Cancels a timer from {@link Clock.setTimeout}. */
  clearTimeout(handle: TimerHandle): void
}

/**
 * The real clock: `performance.now()`, `Date.now()` and Node timers.
 *
 * @example
 * ```ts
 * const started = systemClock.now()
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => {
    // Node fires delays above 2^31 - 1 ms (or Infinity) after 1 ms: clamp instead.
    // Not unref'd: a pending timeout or retry backoff keeps the process alive until the run settles.
    return setTimeout(fn, Math.min(Math.max(0, ms), 2_147_483_647))
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}
