import { FlotillaError } from '../core/errors.js'
import type { RunId, TaskId } from '../core/ids.js'

/** Whether a task write is refused because of its run's state (see {@link StoreOp}). */
export function refusedByRun(op: 'task.start' | 'task.succeed' | 'task.fail', runState: string): boolean {
  return op === 'task.start'
    ? runState !== 'PENDING' && runState !== 'RUNNING'
    : runState !== 'PENDING' && runState !== 'RUNNING' && runState !== 'PAUSED'
}

/** The STORE_CONFLICT of a task write refused because its run is paused, cancelled or final (`details.runState`). */
export function runRefusal(op: { op: string; runId: RunId; taskId: TaskId }, runState: string): FlotillaError {
  const what = op.op === 'task.start' ? 'start' : 'store a result'
  return new FlotillaError(
    'STORE_CONFLICT',
    `Task "${op.taskId}" of run "${op.runId}" cannot ${what}: the run is ${runState}${runState === 'PAUSED' || runState === 'CANCELLED' ? ' (set by another process?)' : ''}.`,
    {
      details: { runId: op.runId, taskId: op.taskId, runState, reason: `run-${runState.toLowerCase()}` },
    },
  )
}

/** `VALIDATION_FAILED` for a claim that cannot be served. */
export function checkClaim(worker: string, max: number, leaseMs: number): void {
  if (typeof worker !== 'string' || worker.length === 0)
    throw new FlotillaError('VALIDATION_FAILED', 'A claim needs a worker id (a non-empty string).')
  if (!Number.isInteger(max) || max < 1)
    throw new FlotillaError('VALIDATION_FAILED', `A claim takes at least 1 attempt; got max = ${max}.`, {
      details: { max },
    })
  if (!(leaseMs >= 100))
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `A lease must last at least 100 ms; got ${leaseMs}. Raise leaseMs well above the heartbeat interval.`,
      { details: { leaseMs } },
    )
}

/** The STORE_CONFLICT of a result from a worker that no longer holds the attempt. */
export function leaseLost(c: { runId: RunId; taskId: TaskId; attempt: number }, worker: string): FlotillaError {
  return new FlotillaError(
    'STORE_CONFLICT',
    `Worker ${worker} no longer holds attempt ${c.attempt} of task "${c.taskId}" in run "${c.runId}" (its lease ran out and another worker took it over); the result is discarded.`,
    {
      details: { reason: 'lease-lost', runId: c.runId, taskId: c.taskId, attempt: c.attempt, worker },
    },
  )
}

/** The STORE_CONFLICT of a result for a run that was cancelled or ended meanwhile. */
export function runCancelled(c: { runId: RunId; taskId: TaskId; attempt: number }, state: string): FlotillaError {
  return new FlotillaError(
    'STORE_CONFLICT',
    `Run "${c.runId}" is ${state}: the result of task "${c.taskId}" attempt ${c.attempt} is discarded.`,
    {
      details: {
        reason: `run-${state.toLowerCase()}`,
        runState: state,
        runId: c.runId,
        taskId: c.taskId,
        attempt: c.attempt,
      },
    },
  )
}
