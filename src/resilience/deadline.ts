import type { Clock, TimerHandle } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'

/** An `AbortSignal` that fires after a time limit, and the means to stop it. */
export interface Deadline {
  readonly signal: AbortSignal
  /** Stops the timer (call when the work settled in time). */
  clear(): void
}

/**
 * An abort signal that fires with a `TASK_TIMEOUT` error after `timeoutMs`,
 * timed by the injected clock (so tests use a fake one).
 *
 * @example
 * ```ts
 * const d = createDeadline(systemClock, 5_000, 'fetching the page')
 * try { await fetch(url, { signal: d.signal }) } finally { d.clear() }
 * ```
 */
export function createDeadline(clock: Clock, timeoutMs: number, what = 'the operation'): Deadline {
  if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) {
    throw new FlotillaError('VALIDATION_FAILED', `A timeout must be a finite number of ms ≥ 0, got ${timeoutMs}.`, {
      details: { timeoutMs: String(timeoutMs) },
    })
  }
  const controller = new AbortController()
  const handle: TimerHandle = clock.setTimeout(() => {
    controller.abort(
      new FlotillaError(
        'TASK_TIMEOUT',
        `${what} did not finish within ${timeoutMs} ms; raise timeoutMs or make it faster.`,
        { details: { timeoutMs } },
      ),
    )
  }, timeoutMs)
  return { signal: controller.signal, clear: () => clock.clearTimeout(handle) }
}
