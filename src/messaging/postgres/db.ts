import type { Pool, QueryResultRow } from 'pg'
import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import type { Statement } from './schema.js'

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

/** The fields of a driver error that the mapping reads. */
interface DriverError {
  message?: unknown
  code?: unknown
}

/** The error of a bus that was closed. */
export function busClosed(where: string): FlotillaError {
  return new FlotillaError(
    'BUS_CLOSED',
    `The PostgreSQL bus at ${where} is closed; open a new one with openPostgresBus to send, receive or publish.`,
    {
      details: { target: where },
    },
  )
}

/**
 * Maps a driver failure to the port's codes: a value PostgreSQL refuses
 * (a NUL character in a name, a number out of range; SQLSTATE class 22) is
 * `VALIDATION_FAILED`; anything else (connection lost, server down, schema
 * dropped) is `STORE_UNAVAILABLE`, retryable. The SQLSTATE goes in `details`.
 */
export function busError(err: unknown, where: string): FlotillaError {
  if (isFlotillaError(err)) return err
  const e: DriverError = typeof err === 'object' && err !== null ? (err as DriverError) : {}
  const code = typeof e.code === 'string' ? e.code : undefined
  const why = typeof e.message === 'string' ? e.message : String(err)
  const sqlstate = code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !SOCKET_CODES.has(code) ? code : undefined
  const details =
    sqlstate !== undefined
      ? { target: where, sqlstate }
      : code !== undefined
        ? { target: where, errno: code }
        : { target: where }
  if (sqlstate?.startsWith('22')) {
    return new FlotillaError(
      'VALIDATION_FAILED',
      `PostgreSQL refused a value: ${why}. Agent names, ids and headers cannot hold the NUL character.`,
      { cause: err, details },
    )
  }
  if (sqlstate === '3F000' || sqlstate === '42P01' || sqlstate === '42883') {
    return new FlotillaError(
      'STORE_UNAVAILABLE',
      `The bus tables at ${where} are missing (${why}); was the schema dropped? Open the bus again to recreate them.`,
      { cause: err, details },
    )
  }
  return new FlotillaError(
    'STORE_UNAVAILABLE',
    `The PostgreSQL bus at ${where} failed: ${why}. Check that the server is up; the operation can be retried.`,
    { cause: err, details, retryable: true },
  )
}

/** Named, prepared queries on the pool, with errors mapped to the port's codes. */
export class Db {
  constructor(
    private readonly pool: Pool,
    private readonly where: string,
    private readonly isClosed: () => boolean,
  ) {}

  /** Runs a prepared statement and returns its rows. */
  async rows<R extends QueryResultRow>(statement: Statement, values: unknown[]): Promise<R[]> {
    if (this.isClosed()) throw busClosed(this.where)
    try {
      const result = await this.pool.query<R>({ name: statement.name, text: statement.text, values })
      return result.rows
    } catch (err) {
      throw this.isClosed() ? busClosed(this.where) : busError(err, this.where)
    }
  }

  /** Like {@link Db.rows}, also after close (cleanup on the way out); errors are swallowed. */
  async quietly(statement: Statement, values: unknown[]): Promise<void> {
    try {
      await this.pool.query({ name: statement.name, text: statement.text, values })
    } catch {
      // best effort: the row expires or is cleaned up by the next sweep
    }
  }
}
