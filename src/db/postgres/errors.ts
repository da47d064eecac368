import { FlotillaError, isFlotillaError, type ErrorDetails } from '../../core/errors.js'

/** The fields of a driver error that the mapping reads (SQLSTATE or errno code, detail, constraint). */
export interface DriverErrorFields {
  message?: unknown
  code?: unknown
  detail?: unknown
  constraint?: unknown
}

/** Node's errno codes of a socket that failed; never SQLSTATEs, though some look like one. */
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

/**
 * The fields of a `pg` error (anything else gives `{}`).
 *
 * @example
 * ```ts
 * const { code } = driverFields(err)
 * ```
 */
export function driverFields(err: unknown): DriverErrorFields {
  return typeof err === 'object' && err !== null ? (err as DriverErrorFields) : {}
}

/**
 * The SQLSTATE of a `pg` error (five digits or capitals: `23505`,
 * `40P01`), or `undefined` for a socket failure or anything else.
 *
 * @example
 * ```ts
 * if (sqlstateOf(err) === '40P01') retry()
 * ```
 */
export function sqlstateOf(err: unknown): string | undefined {
  const code = driverFields(err).code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !SOCKET_CODES.has(code) ? code : undefined
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/** `details` naming the target and the SQLSTATE (or the errno code of a socket failure). */
function baseDetails(err: unknown, where: string): ErrorDetails {
  const code = text(driverFields(err).code)
  const sqlstate = sqlstateOf(err)
  return {
    target: where,
    ...(sqlstate !== undefined ? { sqlstate } : code !== undefined ? { errno: code } : {}),
  }
}

/**
 * Maps a failure to open a connection (refused, unknown host, timeout, bad
 * password, unknown database…) to `STORE_UNAVAILABLE`, saying what to check.
 * A `FlotillaError` (thrown by a migration step) is returned as it is.
 *
 * @param what What was being opened, for the message: `store`, `bus`, `context store`.
 *
 * @example
 * ```ts
 * const client = await pool.connect().catch((err: unknown) => { throw connectError(err, where) })
 * ```
 */
export function connectError(err: unknown, where: string, what = 'store'): FlotillaError {
  if (isFlotillaError(err)) return err
  const c = text(driverFields(err).code)
  const why = text(driverFields(err).message) ?? String(err)
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
    `Cannot open the PostgreSQL ${what} at ${where}: ${why}. ${hint[0].toUpperCase()}${hint.slice(1)}.`,
    { cause: err, details: baseDetails(err, where) },
  )
}

/**
 * Maps a failed query to the port's codes, the same way for every part on
 * PostgreSQL; the SQLSTATE goes in `details.sqlstate`:
 *
 * - no SQLSTATE (connection lost, server down): `STORE_UNAVAILABLE`, retryable;
 * - class 23 (integrity): `STORE_CONFLICT`, but a missing or out-of-range
 *   value (`23502`, `23514`) and class 22 (a NUL character, a number out of
 *   range) are `VALIDATION_FAILED`;
 * - a deadlock or serialization failure: `STORE_UNAVAILABLE`, retryable;
 * - a missing schema, table or function (dropped under us): `STORE_UNAVAILABLE`;
 * - anything else: `STORE_UNAVAILABLE`.
 *
 * A `FlotillaError` is returned as it is.
 *
 * @param what The part that failed, for messages: `store`, `bus`, `context store`.
 *
 * @example
 * ```ts
 * try { await pool.query(sql) } catch (err) { throw sqlError(err, where, 'context store') }
 * ```
 */
export function sqlError(err: unknown, where: string, what: string): FlotillaError {
  if (isFlotillaError(err)) return err
  const e = driverFields(err)
  const code = sqlstateOf(err)
  const why = text(e.message) ?? String(err)
  if (code === undefined) {
    return new FlotillaError(
      'STORE_UNAVAILABLE',
      `The PostgreSQL ${what} at ${where} failed: ${why}. Check that the server is up; the operation can be retried.`,
      { cause: err, details: baseDetails(err, where), retryable: true },
    )
  }
  const details = {
    ...baseDetails(err, where),
    ...(text(e.constraint) ? { constraint: e.constraint as string } : {}),
    ...(text(e.detail) ? { detail: e.detail as string } : {}),
  }
  if (code === '23502' || code === '23514' || code.startsWith('22')) {
    return new FlotillaError(
      'VALIDATION_FAILED',
      `PostgreSQL refused a value: ${why}. Every required field must be set, ids, names and texts cannot hold the NUL character, and numbers must fit.`,
      { cause: err, details },
    )
  }
  if (code.startsWith('23')) {
    return new FlotillaError('STORE_CONFLICT', `The write conflicts with stored state: ${text(e.detail) ?? why}.`, {
      cause: err,
      details,
    })
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
      `The Flotilla tables of the ${what} at ${where} are missing or incomplete (${why}); was the schema dropped? Open it again to recreate them.`,
      { cause: err, details },
    )
  }
  return new FlotillaError('STORE_UNAVAILABLE', `The PostgreSQL ${what} at ${where} refused the operation: ${why}.`, {
    cause: err,
    details,
  })
}
