import type { SerializedError } from '../core/errors.js'
import { asRunId, asTaskId } from '../core/ids.js'
import type { Priority, RunState, TaskState } from '../core/states.js'
import type { RunRecord, TaskRecord } from './records.js'

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
}

/** A JSON column's value: SQL NULL is `undefined`, the text `null` is `null`. */
export function fromJsonText(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text)
}

const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value)

/** A run record from its row. */
export function runFromRow(row: RunRow): RunRecord {
  return {
    id: asRunId(row.id),
    workflow: row.workflow,
    workflowHash: row.workflow_hash,
    definition: fromJsonText(row.definition),
    input: fromJsonText(row.input),
    state: row.state as RunState,
    createdAt: row.created_at,
    startedAt: opt(row.started_at),
    finishedAt: opt(row.finished_at),
    error: fromJsonText(row.error) as SerializedError | undefined,
    parentRunId: row.parent_run_id === null ? undefined : asRunId(row.parent_run_id),
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
    output: fromJsonText(row.output),
    error: fromJsonText(row.error) as SerializedError | undefined,
  }
}
