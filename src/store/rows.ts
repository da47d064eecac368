import type { RunEvent } from '../core/events.js'
import type { ModelSpend } from '../core/model-spend.js'
import { arrayOf, isJson, isJsonObject, isSerializedError, jsonColumn, type JsonShape } from '../db/json-column.js'
import { asRunId, asTaskId } from '../core/ids.js'
import type { Priority, RunState, TaskState } from '../core/states.js'
import type { WorkerRecord } from './queue.js'
import type { GeneratedSummary, RunRecord, TaskRecord } from './records.js'

/**
 * A row of `runs` joined with its definition's body, as the SQL adapters
 * read it (JSON columns as text; SQL NULL means undefined).
 */
export interface RunRow {
  id: string
  workflow: string
  workflow_hash: string
  definition: string | null
  input: string | null
  state: string
  created_at: number
  started_at: number | null
  finished_at: number | null
  error: string | null
  parent_run_id: string | null
  parent_task_id: string | null
  trace_parent: string | null
  /** JSON text of the run's generated summary (store version 9). */
  summary: string | null
}

/** A row of `tasks`, as the SQL adapters read it. */
export interface TaskRow {
  run_id: string
  task_id: string
  state: string
  attempt: number
  agent: string | null
  priority: string
  idempotency_key: string
  started_at: number | null
  finished_at: number | null
  output: string | null
  error: string | null
  /** JSON text of the task's model spend (store version 5). */
  model: string | null
}

/** A stored run event: an object with a string `type` and `runId` and a numeric `at`. */
export const isStoredRunEvent: JsonShape<RunEvent> = (value): value is RunEvent =>
  isJsonObject(value) &&
  typeof value.type === 'string' &&
  typeof value.runId === 'string' &&
  typeof value.at === 'number'

/** `events.body` of PostgreSQL: one run event. */
export const EVENT_BODY = jsonColumn('events.body', isStoredRunEvent, 'a run event { type, runId, at }')
/** `events.body` of SQLite: the events of one commit, in order. */
export const EVENT_BATCH = jsonColumn('events.body', arrayOf(isStoredRunEvent), 'an array of run events')

/** `workers.body`: a worker's heartbeat record. */
export const WORKER_BODY = jsonColumn(
  'workers.body',
  (value): value is WorkerRecord =>
    isJsonObject(value) &&
    typeof value.id === 'string' &&
    Array.isArray(value.agents) &&
    typeof value.heartbeatAt === 'number',
  'a worker record { id, agents, heartbeatAt, … }',
)

/** `runs.definition`: the workflow definition the run pinned (user JSON, checked when compiled). */
export const RUN_DEFINITION = jsonColumn('runs.definition', isJson, 'a workflow definition')
/** `runs.input`: the run's input, as given. */
export const RUN_INPUT = jsonColumn('runs.input', isJson, 'JSON')
/** `tasks.output`: a task's output, as its agent returned it. */
export const TASK_OUTPUT = jsonColumn('tasks.output', isJson, 'JSON')
/** `runs.error`: a serialized error. */
export const RUN_ERROR = jsonColumn('runs.error', isSerializedError, 'an error { code, message }')
/** `tasks.error`: a serialized error. */
export const TASK_ERROR = jsonColumn('tasks.error', isSerializedError, 'an error { code, message }')
/** `tasks.model`: a task's model spend over its attempts (store version 5). */
export const TASK_MODEL = jsonColumn(
  'tasks.model',
  (value): value is ModelSpend =>
    isJsonObject(value) &&
    (
      ['calls', 'replayed', 'inputTokens', 'outputTokens', 'reasoningTokens', 'cachedInputTokens', 'costUsd'] as const
    ).every((k) => typeof value[k] === 'number'),
  'a model spend { calls, replayed, inputTokens, outputTokens, reasoningTokens, cachedInputTokens, costUsd }',
)

/** `runs.summary`: a run's generated summary (store version 9). */
export const RUN_SUMMARY = jsonColumn(
  'runs.summary',
  (value): value is GeneratedSummary =>
    isJsonObject(value) &&
    typeof value.text === 'string' &&
    typeof value.model === 'string' &&
    typeof value.at === 'number' &&
    TASK_MODEL.accepts(value.spend),
  'a summary { text, model, spend, at }',
)

const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value)

/** A run record from its row. */
export function runFromRow(row: RunRow): RunRecord {
  return {
    id: asRunId(row.id),
    workflow: row.workflow,
    workflowHash: row.workflow_hash,
    definition: RUN_DEFINITION.decode(row.definition, row.id),
    input: RUN_INPUT.decode(row.input, row.id),
    state: row.state as RunState,
    createdAt: row.created_at,
    startedAt: opt(row.started_at),
    finishedAt: opt(row.finished_at),
    error: RUN_ERROR.decode(row.error, row.id),
    parentRunId: row.parent_run_id === null ? undefined : asRunId(row.parent_run_id),
    ...(row.parent_task_id === null ? {} : { parentTaskId: asTaskId(row.parent_task_id) }),
    ...(row.trace_parent === null ? {} : { traceParent: row.trace_parent }),
    ...(row.summary === null || row.summary === undefined ? {} : { summary: RUN_SUMMARY.decode(row.summary, row.id) }),
  }
}

/** A task record from its row. */
export function taskFromRow(row: TaskRow): TaskRecord {
  return {
    runId: asRunId(row.run_id),
    taskId: asTaskId(row.task_id),
    state: row.state as TaskState,
    attempt: row.attempt,
    agent: opt(row.agent),
    priority: row.priority as Priority,
    idempotencyKey: row.idempotency_key,
    startedAt: opt(row.started_at),
    finishedAt: opt(row.finished_at),
    output: TASK_OUTPUT.decode(row.output, `${row.run_id}/${row.task_id}`),
    error: TASK_ERROR.decode(row.error, `${row.run_id}/${row.task_id}`),
    model: TASK_MODEL.decode(row.model, `${row.run_id}/${row.task_id}`),
  }
}
