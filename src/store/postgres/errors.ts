import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import { asRunId, asTaskId } from '../../core/ids.js'
import { runRefusal } from '../fence.js'
import { SQLSTATE_CONFLICT, SQLSTATE_RUN_NOT_FOUND } from './schema.js'

/** The fields of a driver error that the mapping reads (SQLSTATE or errno code, detail, constraint). */
interface DriverError {
  message?: unknown
  code?: unknown
  detail?: unknown
  constraint?: unknown
}

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'ENOENT',
])

function fields(err: unknown): DriverError {
  return typeof err === 'object' && err !== null ? (err as DriverError) : {}
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/**
 * Maps a failure to open a connection (refused, unknown host, timeout, bad
 * password, unknown database…) to `STORE_UNAVAILABLE`, saying what to check.
 */
export function connectError(err: unknown, where: string): FlotillaError {
  if (isFlotillaError(err)) return err
  const { code, message } = fields(err)
  const c = text(code)
  const why = text(message) ?? String(err)
  let hint: string
  switch (c) {
    case 'ECONNREFUSED':
      hint = 'nothing listens on that host and port: check that PostgreSQL is running and the port is right'
      break
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      hint = 'the host name does not resolve: check the host in the URL'
      break
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      hint = 'the host cannot be reached: check the host, the network and firewalls'
      break
    case '28P01':
    case '28000':
      hint = 'the server refused the credentials: check the user and password in the URL and pg_hba.conf'
      break
    case '3D000':
      hint = 'the database does not exist: create it (createdb) or fix its name in the URL'
      break
    case '57P03':
      hint = 'the server is starting up or shutting down: retry in a moment'
      break
    case '53300':
      hint = 'the server has no free connection slots: lower poolSize or raise max_connections'
      break
    case '42501':
      hint =
        'the user may not create the schema or its tables: grant CREATE on the database, or create the schema for it'
      break
    default:
      hint = /timeout/i.test(why)
        ? 'no answer within connectTimeoutMs: check the host, the port and the network'
        : 'check the URL and that the server accepts connections'
  }
  return new FlotillaError(
    'STORE_UNAVAILABLE',
    `Cannot open the PostgreSQL store at ${where}: ${why}. ${hint[0].toUpperCase()}${hint.slice(1)}.`,
    {
      cause: err,
      details: { target: where, ...(c === undefined ? {} : /^[0-9A-Z]{5}$/.test(c) ? { sqlstate: c } : { errno: c }) },
    },
  )
}

/**
 * Maps a failure of a store operation to the port's codes; the SQLSTATE goes
 * in `details.sqlstate`. `FL409`/`FL404` come from `flotilla_commit`.
 */
export function queryError(err: unknown, where: string): FlotillaError {
  if (isFlotillaError(err)) return err
  const e = fields(err)
  const code = text(e.code)
  if (code === SQLSTATE_CONFLICT || code === SQLSTATE_RUN_NOT_FOUND) return refusal(code, parseDetail(e.detail))
  const why = text(e.message) ?? String(err)
  if (code === undefined || SOCKET_CODES.has(code) || !/^[0-9A-Z]{5}$/.test(code)) {
    return new FlotillaError(
      'STORE_UNAVAILABLE',
      `The PostgreSQL store at ${where} failed: ${why}. Check that the server is up; the operation can be retried.`,
      {
        cause: err,
        details: code === undefined ? {} : { errno: code },
      },
    )
  }
  const details = {
    sqlstate: code,
    ...(text(e.constraint) ? { constraint: e.constraint } : {}),
    ...(text(e.detail) ? { detail: e.detail } : {}),
  }
  if (code === '23505') {
    const what = e.constraint === 'tasks_pkey' ? 'a run lists the same task id twice' : 'a row with the same key exists'
    return new FlotillaError(
      'STORE_CONFLICT',
      `The write conflicts with stored state: ${what} (${text(e.detail) ?? why}).`,
      { cause: err, details },
    )
  }
  if (code === '23502' || code === '23514') {
    return new FlotillaError(
      'VALIDATION_FAILED',
      `PostgreSQL refused a value of the write: ${why}. Every record field the port requires must be set (times as finite numbers).`,
      { cause: err, details },
    )
  }
  if (code.startsWith('23'))
    return new FlotillaError('STORE_CONFLICT', `The write conflicts with stored state: ${why}.`, {
      cause: err,
      details,
    })
  if (code.startsWith('22')) {
    return new FlotillaError(
      'VALIDATION_FAILED',
      `PostgreSQL refused a value of the write: ${why}. Ids and texts cannot hold the NUL character; numbers must fit.`,
      { cause: err, details },
    )
  }
  if (code === '40001' || code === '40P01') {
    return new FlotillaError(
      'STORE_UNAVAILABLE',
      `The write collided with a concurrent one (${why}); nothing was applied. Retry it.`,
      { cause: err, details, retryable: true },
    )
  }
  if (code === '3F000' || code === '42P01' || code === '42883') {
    return new FlotillaError(
      'STORE_UNAVAILABLE',
      `The Flotilla schema at ${where} is missing or incomplete (${why}); was it dropped? Reconnect to recreate it.`,
      { cause: err, details },
    )
  }
  return new FlotillaError('STORE_UNAVAILABLE', `The PostgreSQL store at ${where} refused the operation: ${why}.`, {
    cause: err,
    details,
  })
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
    const value: unknown = JSON.parse(text(detail) ?? '{}')
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
