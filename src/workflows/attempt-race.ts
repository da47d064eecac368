import type { Clock } from '../core/clock.js'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { QueueClaim } from '../store/queue.js'
import type { AttemptHandle } from './run-execution.js'

/**
 * Runs a claimed attempt's handler against its abort signal and its timeout:
 * rejects with the signal's reason (`TASK_CANCELLED` unless a FlotillaError)
 * when the attempt is aborted, and with `TASK_TIMEOUT` after `timeoutMs`
 * (aborting the signal, which the handler sees as `ctx.signal`).
 */
export async function raceAttempt(
  clock: Clock,
  timeoutMs: number | undefined,
  handle: AttemptHandle,
  claim: QueueClaim,
  run: () => Promise<unknown>,
): Promise<unknown> {
  const controller = (handle.controller ??= new AbortController())
  const aborted = new Promise<never>((_, reject) => {
    if (controller.signal.aborted) reject(toFlotillaError(controller.signal.reason, 'TASK_CANCELLED'))
    controller.signal.addEventListener(
      'abort',
      () => reject(toFlotillaError(controller.signal.reason, 'TASK_CANCELLED')),
      { once: true },
    )
  })
  aborted.catch(() => undefined)
  let timer: ReturnType<Clock['setTimeout']> | undefined
  if (timeoutMs !== undefined) {
    timer = clock.setTimeout(() => {
      controller.abort(
        new FlotillaError(
          'TASK_TIMEOUT',
          `Task "${claim.taskId}" attempt ${claim.attempt} did not finish within ${timeoutMs} ms; raise timeoutMs or make the handler honour ctx.signal.`,
          {
            details: { taskId: claim.taskId, timeoutMs, attempt: claim.attempt },
          },
        ),
      )
    }, timeoutMs)
  }
  try {
    return await Promise.race([run(), aborted])
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer)
  }
}
