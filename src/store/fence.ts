import { FlotillaError } from '../core/errors.js'
import type { RunId, TaskId } from '../core/ids.js'

/** Whether a task write is refused because of its run's state (see {@link StoreOp}). */
export function refusedByRun(op: 'task.start' | 'task.succeed' | 'task.fail', runState: string): boolean {
  return op === 'task.start' ? runState !== 'PENDING' && runState !== 'RUNNING' : runState !== 'PENDING' && runState !== 'RUNNING' && runState !== 'PAUSED'
}

/** The STORE_CONFLICT of a task write refused because its run is paused, cancelled or final (`details.runState`). */
export function runRefusal(op: { op: string; runId: RunId; taskId: TaskId }, runState: string): FlotillaError {
  const what = op.op === 'task.start' ? 'start' : 'store a result'
  return new FlotillaError('STORE_CONFLICT', `Task "${op.taskId}" of run "${op.runId}" cannot ${what}: the run is ${runState}${runState === 'PAUSED' || runState === 'CANCELLED' ? ' (set by another process?)' : ''}.`, {
    details: { runId: op.runId, taskId: op.taskId, runState, reason: `run-${runState.toLowerCase()}` },
  })
}

