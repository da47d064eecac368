import { createHash } from 'node:crypto'
import { FlotillaError, type SerializedError } from '../../core/errors.js'
import { asRunId, asTaskId } from '../../core/ids.js'
import type { Priority, RunState, TaskState } from '../../core/states.js'
import type { RunRecord, TaskRecord } from '../records.js'

/** A value bound to an SQLite statement parameter. */
export type SqlValue = string | number | null

/** A row of `runs` joined with its definition body. */
export interface RunRow {
  id: string
  workflow: string
  workflow_hash: string
  definition: string | null
  input: string | null
  state: RunState
  created_at: number
  started_at: number | null
  finished_at: number | null
  error: string | null
  parent_run_id: string | null
}

/** A row of `tasks`. */
export interface TaskRow {
  run_id: string
  task_id: string
  state: TaskState
  attempt: number
  agent: string | null
  priority: Priority
  idempotency_key: string
  started_at: number | null
  finished_at: number | null
  output: string | null
  error: string | null
}

/**
 * The JSON text of a value, or `null` for `undefined` (read back as
 * `undefined`). `what` and `of` (e.g. `output`, a task id) name it in errors. A value JSON cannot hold (a BigInt, a cycle) is refused with
 * `VALIDATION_FAILED`, which rolls the batch back.
 */
export function toJson(value: unknown, what: string, of?: string): string | null {
  if (value === undefined) return null
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (e) {
    const name = of === undefined ? what : `${what} "${of}"`
    throw new FlotillaError('VALIDATION_FAILED', `The ${name} cannot be stored as JSON: ${e instanceof Error ? e.message : String(e)}. Use plain JSON data (objects, arrays, strings, numbers, booleans, null).`, {
      details: of === undefined ? { what } : { what, of }, cause: e,
    })
  }
  return text ?? null
}

/** The value of a JSON column; `NULL` is `undefined`. */
export function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text)
}

/** The key and text of a workflow definition in the `definitions` table. */
export interface EncodedDefinition {
  /** SHA-256 (hex) of `body` (of the empty string when the definition is undefined). */
  hash: string
  body: string | null
}

/** Frozen definitions cannot change, so each is encoded and hashed once per process. */
const encoded = new WeakMap<object, EncodedDefinition>()

/**
 * A definition keyed by the hash of its own JSON text, so identical
 * definitions share one row and different ones never collide, whatever
 * `workflowHash` the run carries.
 */
export function encodeDefinition(definition: unknown): EncodedDefinition {
  const frozen = typeof definition === 'object' && definition !== null && Object.isFrozen(definition)
  if (frozen) {
    const hit = encoded.get(definition)
    if (hit) return hit
  }
  const body = toJson(definition, 'workflow definition')
  const result = { hash: createHash('sha256').update(body ?? '').digest('hex'), body }
  if (frozen) encoded.set(definition, result)
  return result
}

/** A run record from its row. */
export function toRunRecord(row: RunRow): RunRecord {
  return {
    id: asRunId(row.id),
    workflow: row.workflow,
    workflowHash: row.workflow_hash,
    definition: fromJson(row.definition),
    input: fromJson(row.input),
    state: row.state,
    createdAt: row.created_at,
    startedAt: row.started_at ?? undefined,
    finishedAt: row.finished_at ?? undefined,
    error: fromJson(row.error) as SerializedError | undefined,
    parentRunId: row.parent_run_id === null ? undefined : asRunId(row.parent_run_id),
  }
}

/** A task record from its row. */
export function toTaskRecord(row: TaskRow): TaskRecord {
  return {
    runId: asRunId(row.run_id),
    taskId: asTaskId(row.task_id),
    state: row.state,
    attempt: row.attempt,
    agent: row.agent ?? undefined,
    priority: row.priority,
    idempotencyKey: row.idempotency_key,
    startedAt: row.started_at ?? undefined,
    finishedAt: row.finished_at ?? undefined,
    output: fromJson(row.output),
    error: fromJson(row.error) as SerializedError | undefined,
  }
}
