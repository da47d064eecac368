import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import { asRunId, asTaskId } from '../../core/ids.js'
import { driverFields, sqlError, sqlstateOf } from '../../db/postgres/errors.js'
import { runRefusal } from '../fence.js'
import { SQLSTATE_CONFLICT, SQLSTATE_RUN_NOT_FOUND } from './schema.js'

/**
 * Maps a failure of a store operation to the port's codes: `FL409`/`FL404`
 * (raised by `flotilla_commit`) to the fencing refusals, a task id listed
 * twice to `STORE_CONFLICT`, the rest as every PostgreSQL part does
 * ({@link sqlError}); the SQLSTATE goes in `details.sqlstate`.
 */
export function queryError(err: unknown, where: string): FlotillaError {
  if (isFlotillaError(err)) return err
  const e = driverFields(err)
  const code = sqlstateOf(err)
  if (code === SQLSTATE_CONFLICT || code === SQLSTATE_RUN_NOT_FOUND) return refusal(code, parseDetail(e.detail))
  if (code === '23505' && e.constraint === 'tasks_pkey') {
    return new FlotillaError(
      'STORE_CONFLICT',
      `The write conflicts with stored state: a run lists the same task id twice (${typeof e.detail === 'string' ? e.detail : String(e.message)}).`,
      { cause: err, details: { target: where, sqlstate: code, constraint: 'tasks_pkey' } },
    )
  }
  return sqlError(err, where, 'store')
}

/** What `flotilla_refuse` puts in the DETAIL of its error. */
interface Refusal {
  reason?: string
  runId?: string
  taskId?: string
  attempt?: number | null
  storedAttempt?: number | null
  state?: string
  runState?: string
  op?: string
}

function parseDetail(detail: unknown): Refusal {
  try {
    const value: unknown = JSON.parse(typeof detail === 'string' ? detail : '{}')
    return typeof value === 'object' && value !== null ? (value as Refusal) : {}
  } catch {
    return {}
  }
}

function refusal(code: string, d: Refusal): FlotillaError {
  const run = `run "${d.runId}"`
  const task = `task "${d.taskId}" of ${run}`
  const ids = { sqlstate: code, runId: d.runId, ...(d.taskId === undefined ? {} : { taskId: d.taskId }) }
  if (code === SQLSTATE_RUN_NOT_FOUND)
    return new FlotillaError('RUN_NOT_FOUND', `No run "${d.runId}" in the store.`, { details: ids })
  const fenced = { ...ids, attempt: d.attempt, storedAttempt: d.storedAttempt, state: d.state }
  switch (d.reason) {
    case 'run-exists':
      return new FlotillaError('STORE_CONFLICT', `Run "${d.runId}" already exists.`, { details: ids })
    case 'run-final':
      return new FlotillaError(
        'STORE_CONFLICT',
        `Run "${d.runId}" is already ${d.state}; a finished run cannot change state.`,
        { details: { ...ids, state: d.state } },
      )
    case 'run-paused':
    case 'run-cancelled':
    case 'run-succeeded':
    case 'run-failed':
    case 'run-pending':
    case 'run-running':
      return runRefusal(
        {
          op: d.op === 'start' ? 'task.start' : 'task.succeed',
          runId: asRunId(d.runId ?? ''),
          taskId: asTaskId(d.taskId ?? ''),
        },
        d.runState ?? '',
      )
    case 'no-task':
      return new FlotillaError('STORE_CONFLICT', `Run "${d.runId}" has no task "${d.taskId}".`, { details: ids })
    case 'start':
      return new FlotillaError(
        'STORE_CONFLICT',
        `Task "${d.taskId}" of ${run} cannot start attempt ${d.attempt} (stored attempt ${d.storedAttempt}, ${d.state}).`,
        { details: fenced },
      )
    case 'finish':
      return new FlotillaError('STORE_CONFLICT', `The ${task} is already finished (${d.state}).`, { details: fenced })
    default:
      return new FlotillaError(
        'STORE_CONFLICT',
        `Attempt ${d.attempt} of ${task} is stale (stored attempt ${d.storedAttempt}, ${d.state}); its result is discarded.`,
        { details: fenced },
      )
  }
}
