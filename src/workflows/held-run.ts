/**
 * A run as a worker's {@link Coordinator} holds it: the run's graph with what
 * the coordinator counts beside it (attempts in flight, parked tasks,
 * groups), rebuilt from the store when a run is adopted, and the small
 * checks on it the coordinator makes for every result.
 *
 * @module
 */
import type { Clock } from '../core/clock.js'
import type { RunRecord, TaskRecord } from '../store/records.js'
import type { Workflow } from './compile.js'
import { RunExecution, S } from './run-execution.js'

/** One run a coordinator holds. */
export interface Held {
  run: RunExecution
  /** Attempts offered and not yet answered. */
  inFlight: number
  /** Attempt number at which the task switched to its fallback agent (0: none). */
  fallbackFrom: Int32Array
  /** Tasks ready but held back by the run's concurrency limit or a group. */
  parked: number[]
  groups: Map<string, number>
  /** Tasks reported as waiting for a worker, so the event is sent once. */
  waiting: Set<number>
  /** When the run started (wall clock), for the duration of its final event. */
  startedAt: number | undefined
  /** The run was started with `breakOnError` (its `run.started` event says so). */
  breakOnError: boolean
}

/**
 * The held run of a stored run and its stored tasks: its graph rebuilt from
 * the tasks' states, the tasks that had switched to their fallback agent
 * marked so. Nothing is offered yet.
 */
export function holdRun(
  record: RunRecord,
  tasks: readonly TaskRecord[],
  workflow: Workflow,
  clock: Clock,
  breakOnError: boolean,
): Held {
  const run = new RunExecution(record.id, workflow, record.input, workflow.concurrency, {})
  run.restore(tasks)
  run.state = record.state
  run.startMono = clock.now()
  const h: Held = {
    breakOnError,
    run,
    inFlight: 0,
    fallbackFrom: new Int32Array(run.total),
    parked: [],
    groups: new Map(),
    waiting: new Set(),
    startedAt: record.startedAt,
  }
  for (const t of tasks) {
    const i = workflow.indexOf.get(t.taskId)
    if (i === undefined) continue
    if (
      t.agent !== undefined &&
      workflow.tasks[i].fallback !== undefined &&
      t.agent.split('@')[0] === workflow.tasks[i].fallback
    )
      run.usingFallback[i] = 1
  }
  return h
}

/** False once the task is final here (a result is applied once). */
export function settleable(h: Held, i: number): boolean {
  const s = h.run.taskState[i]
  return !(s === S.SUCCEEDED || s === S.FAILED || s === S.SKIPPED || s === S.CANCELLED)
}

/** Task `i` no longer counts against its concurrency group. */
export function leaveGroup(h: Held, i: number): void {
  const group = h.run.workflow.tasks[i].group
  if (group !== undefined) h.groups.set(group.name, (h.groups.get(group.name) ?? 1) - 1)
}
