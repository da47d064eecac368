import type { SerializedError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import { asTaskId, newRunId, type RunId, type TaskId } from '../core/ids.js'
import type { RunState } from '../core/states.js'
import type { RunRecord, StoreOp, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'

// Records and ops the store contract suites build on.

export const T0 = Date.UTC(2026, 0, 1)

export function runRecord(id: RunId, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    workflow: `wf_${id}`,
    workflowHash: 'a'.repeat(64),
    definition: { name: `wf_${id}`, tasks: [{ id: 'a', agent: 'x' }] },
    input: { target: 'src', n: 3 },
    state: 'PENDING',
    createdAt: T0,
    startedAt: undefined,
    finishedAt: undefined,
    error: undefined,
    parentRunId: undefined,
    ...extra,
  }
}

export function taskRecord(runId: RunId, taskId: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    runId,
    taskId: asTaskId(taskId),
    state: 'PENDING',
    attempt: 0,
    agent: undefined,
    priority: 'MEDIUM',
    idempotencyKey: `${runId}:${taskId}`,
    startedAt: undefined,
    finishedAt: undefined,
    output: undefined,
    error: undefined,
    ...extra,
  }
}

export function createOp(
  id: RunId,
  taskIds: readonly string[] = ['a', 'b', 'c'],
  extra: Partial<RunRecord> = {},
): StoreOp {
  return { op: 'run.create', run: runRecord(id, extra), tasks: taskIds.map((t) => taskRecord(id, t)) }
}

export const start = (runId: RunId, taskId: string, attempt: number, at = T0 + 10): StoreOp => ({
  op: 'task.start',
  runId,
  taskId: asTaskId(taskId),
  attempt,
  agent: 'worker@1.0.0',
  at,
})
export const succeed = (runId: RunId, taskId: string, attempt: number, output: unknown, at = T0 + 20): StoreOp => ({
  op: 'task.succeed',
  runId,
  taskId: asTaskId(taskId),
  attempt,
  output,
  at,
})
export const fail = (
  runId: RunId,
  taskId: string,
  attempt: number,
  final: boolean,
  error: SerializedError = boom,
  at = T0 + 20,
): StoreOp => ({ op: 'task.fail', runId, taskId: asTaskId(taskId), attempt, error, at, final })
export const finish = (runId: RunId, taskId: string, state: 'SKIPPED' | 'CANCELLED', at = T0 + 30): StoreOp => ({
  op: 'task.finish',
  runId,
  taskId: asTaskId(taskId),
  state,
  at,
  reason: 'because',
})
export const runState = (runId: RunId, state: RunState, at: number, error?: SerializedError): StoreOp => ({
  op: 'run.state',
  runId,
  state,
  at,
  ...(error ? { error } : {}),
})

export const boom: SerializedError = {
  code: 'TASK_FAILED',
  message: 'boom',
  details: { taskId: 'a', nested: { list: [1, 2] } },
  retryable: true,
}

export function logEvent(runId: RunId, message: string): RunEvent {
  return { type: 'task.log', at: T0, runId, taskId: asTaskId('a'), level: 'info', message }
}

/** Creates a run with tasks a, b, c (RUNNING unless told) and returns its id. */
export async function seedRun(
  store: Store,
  state: RunState = 'RUNNING',
  taskIds: readonly string[] = ['a', 'b', 'c'],
  extra: Partial<RunRecord> = {},
): Promise<RunId> {
  const id = newRunId()
  await store.commit({
    ops: [createOp(id, taskIds, { state, startedAt: state === 'PENDING' ? undefined : T0, ...extra })],
    events: [],
  })
  return id
}

/** A task id. */
export const tid = (t: string): TaskId => asTaskId(t)
