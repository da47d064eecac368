/**
 * Child runs on workers: the {@link ChildRunsHost} of a {@link Worker}. A
 * plan returned by a task there is stored as a run linked to its parent run
 * and task, exactly as {@link Client.start} stores a run, and any worker's
 * coordinator drives it; the parent attempt waits for it in the store. After
 * a crash the parent task's next attempt (on any worker) finds the stored
 * child run by its id and waits for it instead of starting another.
 *
 * @module
 */
import type { Clock } from '../core/clock.js'
import type { RunId } from '../core/ids.js'
import { isFinalRunState } from '../core/states.js'
import type { Registry } from '../registry/registry.js'
import type { TaskQueue } from '../store/queue.js'
import type { Store } from '../store/store.js'
import type { RunResult } from '../workflows/results.js'
import type { ChildRunsHost } from './child-runs.js'
import { resolveRunInput } from './inputs.js'
import { cancelStoredChildren, controlStoredRun } from './stored-control.js'
import { awaitStoredRun, storedRunResult, storeNewRun } from './stored-runs.js'

/** What a worker gives {@link workerChildRunsHost}. */
export interface WorkerChildRunsParts {
  readonly store: Store
  readonly queue: TaskQueue
  readonly clock: Clock
  readonly registry: Registry
  /** Most tasks of any plan. */
  readonly maxPlanTasks: number
}

/**
 * The child-run host of a worker. `start` stores the child run and waits
 * until it is final; `resume` waits for a stored unfinished one. Waiting
 * stops, leaving the child run as it is, when the parent attempt's signal
 * aborts (the worker stops, or the attempt lost its lease) — unless the
 * parent run was cancelled: then its unfinished child runs are cancelled
 * too. `cancel` writes the cancel to the store (the worker holding the run
 * aborts its running attempts at its next heartbeat).
 */
export function workerChildRunsHost(p: WorkerChildRunsParts): ChildRunsHost {
  const { store, queue, clock } = p
  const wait = async (runId: RunId, signal: AbortSignal | undefined): Promise<RunResult> => {
    try {
      const record = await awaitStoredRun(store, queue, runId, { signal, pollMs: 250 })
      return storedRunResult(record, await store.getTasks(runId))
    } catch (e) {
      if (signal?.aborted === true) await cascadeCancel(store, clock, runId)
      throw e
    }
  }
  return {
    store,
    registry: p.registry,
    maxPlanTasks: p.maxPlanTasks,
    start: async (wf, input, ids, signal) => {
      await storeNewRun(store, clock, wf, {
        runId: ids.runId,
        input: resolveRunInput(wf, input),
        parentRunId: ids.parentRunId,
        parentTaskId: ids.parentTaskId,
      })
      await queue.notify()
      return wait(ids.runId, signal)
    },
    resume: (runId, signal) => wait(runId, signal),
    cancel: async (runId, reason) => {
      const record = await store.getRun(runId)
      if (record !== undefined && !isFinalRunState(record.state))
        await controlStoredRun(store, record, 'cancel', clock, reason)
    },
  }
}

/** When the parent of the child run `runId` was cancelled: cancels the parent's unfinished child runs. */
async function cascadeCancel(store: Store, clock: Clock, runId: RunId): Promise<void> {
  const child = await store.getRun(runId).catch(() => undefined)
  const parentId = child?.parentRunId
  if (parentId === undefined) return
  const parent = await store.getRun(parentId).catch(() => undefined)
  if (parent?.state !== 'CANCELLED') return
  const reason = parent.error?.details?.reason
  await cancelStoredChildren(store, parentId, typeof reason === 'string' ? reason : 'cancelled', clock).catch(
    () => undefined,
  )
}
