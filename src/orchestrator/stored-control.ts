import type { Clock } from '../core/clock.js'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { RunId } from '../core/ids.js'
import { isFinalRunState, isFinalTaskState } from '../core/states.js'
import type { RunRecord, StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'

/**
 * Pauses or cancels a run that is stored but not executing in this process
 * (its process stopped or crashed), by writing the new state to the store in
 * one batch. Recovery then keeps a paused run paused and skips a cancelled
 * one. A run still executing in another process finds its next write fenced
 * (STORE_CONFLICT) and stops: the store stays consistent.
 */
export async function controlStoredRun(
  store: Store,
  record: RunRecord,
  action: 'pause' | 'cancel',
  clock: Clock,
  reason = 'cancelled by the user',
  actor?: string,
): Promise<void> {
  const by = actor === undefined ? {} : { actor }
  if (isFinalRunState(record.state) || (action === 'pause' && record.state === 'PAUSED')) {
    throw new FlotillaError('RUN_STATE_INVALID', `Cannot ${action} run ${record.id}: it is ${record.state}.`, {
      details: { runId: record.id, state: record.state },
    })
  }
  const at = clock.wallNow()
  if (action === 'pause') {
    await store.commit({
      ops: [{ op: 'run.state', runId: record.id, state: 'PAUSED', at }],
      events: [{ type: 'run.paused', at, runId: record.id, ...by }],
    })
    return
  }
  const ops: StoreOp[] = []
  for (const t of await store.getTasks(record.id)) {
    if (!isFinalTaskState(t.state))
      ops.push({ op: 'task.finish', runId: record.id, taskId: t.taskId, state: 'CANCELLED', at, reason })
  }
  ops.push({
    op: 'run.state',
    runId: record.id,
    state: 'CANCELLED',
    at,
    error: { code: 'TASK_CANCELLED', message: `Run cancelled: ${reason}`, details: { reason }, retryable: false },
  })
  await store.commit({ ops, events: [{ type: 'run.cancelled', at, runId: record.id, durationMs: 0, reason, ...by }] })
}

/**
 * Cancels, in the store, the unfinished child runs of a cancelled run (those
 * planned or spawned by its tasks, `parentTaskId` set), and theirs in turn.
 * A child run that ends meanwhile is left as it ended. Used where runs execute
 * on workers (`Client.cancel`, a worker's waiting parent attempt); an
 * Orchestrator cancels the child runs it executes itself.
 */
export async function cancelStoredChildren(
  store: Store,
  parentRunId: RunId,
  reason: string,
  clock: Clock,
  actor?: string,
): Promise<void> {
  const children = await store.listRuns({ parentRunId, limit: Number.MAX_SAFE_INTEGER })
  for (const c of children) {
    if (c.parentTaskId === undefined) continue
    if (!isFinalRunState(c.state))
      await controlStoredRun(store, c, 'cancel', clock, `parent run ${parentRunId} cancelled: ${reason}`, actor).catch(
        (e: unknown) => {
          if (!(isFlotillaError(e) && (e.code === 'RUN_STATE_INVALID' || e.code === 'STORE_CONFLICT'))) throw e
        },
      )
    await cancelStoredChildren(store, c.id, reason, clock, actor)
  }
}
