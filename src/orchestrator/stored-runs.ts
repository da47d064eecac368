/**
 * Runs submitted through a shared store for workers to take: storing a new
 * run (the `run.create` op and its `run.started` event, then a queue
 * notification), waiting until a stored run is final, and the
 * {@link RunResult} of a final stored run. Used by {@link Client} and by the
 * child runs of a {@link Worker}.
 *
 * @module
 */
import type { Clock } from '../core/clock.js'
import { deserializeError, FlotillaError } from '../core/errors.js'
import type { RunId, TaskId } from '../core/ids.js'
import { isFinalRunState } from '../core/states.js'
import type { TaskQueue } from '../store/queue.js'
import type { RunRecord, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import { RunResult } from '../workflows/results.js'
import { RunExecution } from '../workflows/run-execution.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { newRunRecord, newTaskRecords } from '../workflows/task-io.js'

/** How {@link storeNewRun} stores a run. */
export interface NewStoredRun {
  readonly runId: RunId
  /** The run's input, already resolved against the workflow's inputs. */
  readonly input: unknown
  readonly parentRunId?: RunId | undefined
  readonly parentTaskId?: TaskId | undefined
  readonly traceParent?: string | undefined
  readonly actor?: string | undefined
  readonly debug?: boolean | undefined
  readonly breakOnError?: boolean | undefined
}

/** Stores a new RUNNING run with its PENDING tasks and its `run.started` event, in one commit (no queue notification). */
export async function storeNewRun(store: Store, clock: Clock, wf: Workflow, run: NewStoredRun): Promise<void> {
  const now = clock.wallNow()
  const { runId, parentRunId, parentTaskId, traceParent } = run
  await store.commit({
    ops: [
      {
        op: 'run.create',
        run: newRunRecord(runId, wf, run.input, now, { parentRunId, parentTaskId, traceParent }),
        tasks: newTaskRecords(runId, wf),
      },
    ],
    events: [
      {
        type: 'run.started',
        at: now,
        runId,
        workflow: wf.name,
        tasks: wf.tasks.length,
        ...(parentRunId === undefined ? {} : { parentRunId }),
        ...(run.actor === undefined ? {} : { actor: run.actor }),
        ...(run.debug === true ? { debug: true as const } : {}),
        ...(run.breakOnError === true ? { breakOnError: true as const } : {}),
      },
    ],
  })
}

/** What {@link awaitStoredRun} waits with. */
export interface AwaitOptions {
  /** `TASK_TIMEOUT` after this many ms (default: no limit). */
  readonly timeoutMs?: number | undefined
  /** Longest pause between two reads of the run (default 100 ms; a queue notification ends it sooner). */
  readonly pollMs?: number | undefined
  /** Stops waiting (rejecting with its reason) when it aborts; the run is left as it is. */
  readonly signal?: AbortSignal | undefined
}

/** Waits until a stored run is final and returns its record: `RUN_NOT_FOUND`, `TASK_TIMEOUT`, or the signal's reason. */
export async function awaitStoredRun(
  store: Store,
  queue: TaskQueue,
  runId: RunId,
  options: AwaitOptions = {},
): Promise<RunRecord> {
  const deadline = Date.now() + (options.timeoutMs ?? Infinity)
  const signal = options.signal
  for (;;) {
    signal?.throwIfAborted()
    const run = await store.getRun(runId)
    if (run === undefined) throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}".`, { details: { runId } })
    if (isFinalRunState(run.state)) return run
    if (Date.now() >= deadline)
      throw new FlotillaError('TASK_TIMEOUT', `Run ${runId} is still ${run.state} after ${options.timeoutMs} ms.`, {
        details: { runId, state: run.state },
      })
    await queue.wait(Math.min(options.pollMs ?? 100, Math.max(0, deadline - Date.now())), signal)
  }
}

/** The result of a stored run from its records: state, error and the outputs of its succeeded tasks. */
export function storedRunResult(record: RunRecord, tasks: readonly TaskRecord[]): RunResult {
  const wf = compileWorkflow(record.definition as WorkflowSpec)
  const run = new RunExecution(record.id, wf, record.input, wf.concurrency, {})
  run.restore(tasks)
  run.state = record.state
  run.error = record.error === undefined ? undefined : deserializeError(record.error)
  return new RunResult(run)
}
