import type { SerializedError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId, TaskId } from '../core/ids.js'
import type { StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'
import { S, type RunExecution } from './run-execution.js'

/** True when the stored run was started with `breakOnError` (its `run.started` event says so). */
export async function storedBreakOnError(store: Store, runId: RunId): Promise<boolean> {
  const [first] = await store.listEvents(runId, { limit: 1 })
  return first?.event.type === 'run.started' && first.event.breakOnError === true
}

/**
 * Break on error in a worker's coordinator: task `i` (stored RETRYING by its
 * executor) stays RETRYING, and the run goes PAUSED; returns what to commit.
 * Once resumed, the queue hands out the task's next attempt.
 */
export function breakAt(
  run: RunExecution,
  i: number,
  attempt: number,
  error: SerializedError,
  at: number,
): { ops: StoreOp[]; events: RunEvent[] } {
  const taskId = run.workflow.tasks[i].id as TaskId
  run.setState(i, S.RETRYING)
  run.state = 'PAUSED'
  return {
    ops: [{ op: 'run.state', runId: run.id, state: 'PAUSED', at }],
    events: [{ type: 'run.paused', at, runId: run.id, reason: 'break on error', taskId, attempt, error }],
  }
}

/** Marks every unfinished task of a run that ended CANCELLED; returns the ops that store it. */
export function cancelUnfinished(run: RunExecution, at: number): StoreOp[] {
  const ops: StoreOp[] = []
  for (let i = 0; i < run.total; i++) {
    const s = run.taskState[i]
    if (s === S.SUCCEEDED || s === S.FAILED || s === S.SKIPPED || s === S.CANCELLED) continue
    run.setState(i, S.CANCELLED)
    const taskId = run.workflow.tasks[i].id as TaskId
    ops.push({ op: 'task.finish', runId: run.id, taskId, state: 'CANCELLED', at, reason: 'the run failed' })
  }
  return ops
}
