import type { SqliteSecurityOptions } from './options.js'
import type Database from 'better-sqlite3'
import { FlotillaError } from '../../core/errors.js'
import { sqliteError } from '../../db/sqlite/errors.js'
import { openDatabase } from '../../db/sqlite/open-database.js'
import { SECURITY_DOMAIN } from './schema.js'

/**
 * One connection to the file of the security tables, shared by the SQLite
 * security adapters: opens and migrates the `security` domain, maps SQLite
 * errors to `STORE_UNAVAILABLE`, and refuses use after `close`.
 */
export class SecurityConnection {
  private closed = false

  private constructor(
    /** The database file, as given. */
    readonly path: string,
    /** The better-sqlite3 connection. */
    readonly db: Database.Database,
    private readonly what: string,
  ) {}

  /**
   * Opens (creating when new) the file and the security tables.
   * `VALIDATION_FAILED` for bad options, `STORE_NOT_FLOTILLA` for a file of
   * something else (left untouched), `STORE_SCHEMA_TOO_NEW`, or
   * `STORE_UNAVAILABLE` for a path that cannot be opened.
   *
   * @param what The adapter, for messages: `security store`, `audit log`.
   */
  static open(options: SqliteSecurityOptions, what: string): SecurityConnection {
    const { path, busyTimeoutMs = 5000 } = options
    if (typeof path !== 'string' || path.length === 0) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `The SQLite ${what} option "path" must be a file path or ":memory:".`,
        {
          details: { field: 'path' },
        },
      )
    }
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `The SQLite ${what} option "busyTimeoutMs" must be a whole number of ms ≥ 0; got ${busyTimeoutMs}.`,
        { details: { field: 'busyTimeoutMs' } },
      )
    }
    const db = openDatabase({ path, synchronous: 'NORMAL', busyTimeoutMs, domains: [SECURITY_DOMAIN] })
    return new SecurityConnection(path, db, what)
  }

  /** Runs `fn` on the open connection; an SQLite error becomes `STORE_UNAVAILABLE`. */
  run<T>(fn: () => T): T {
    if (this.closed)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The SQLite ${this.what} "${this.path}" was closed; open a new one.`,
        {
          details: { path: this.path },
          retryable: false,
        },
      )
    try {
      return fn()
    } catch (e) {
      throw sqliteError(e, this.path, this.what)
    }
  }

  /** Closes the connection (the file stays). Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}

/** `JSON.stringify` of a value that may be `null` (SQL NULL). */
export function jsonText(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value)
}
