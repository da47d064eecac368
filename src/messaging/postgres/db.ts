import type { Pool, QueryResultRow } from 'pg'
import { FlotillaError } from '../../core/errors.js'
import { sqlError } from '../../db/postgres/errors.js'
import type { Statement } from './schema.js'

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
 * Maps a driver failure to the port's codes, as every PostgreSQL part does
 * (`sqlError` of the driver module): a value PostgreSQL refuses (a NUL
 * character in a name, a number out of range) is `VALIDATION_FAILED`;
 * a lost connection, a server down or a dropped schema `STORE_UNAVAILABLE`,
 * retryable. The SQLSTATE goes in `details`.
 */
export function busError(err: unknown, where: string): FlotillaError {
  return sqlError(err, where, 'bus')
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
