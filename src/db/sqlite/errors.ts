import { FlotillaError, isFlotillaError, toFlotillaError } from '../../core/errors.js'

/** SQLite result codes worth a retry: another process holds the lock, or the disk hiccuped. */
const TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|PROTOCOL)/

/**
 * The `code` of an SQLite error (`SQLITE_BUSY`…), if `e` is one.
 *
 * @example
 * ```ts
 * if (sqliteCode(err) === 'SQLITE_BUSY') retryLater()
 * ```
 */
export function sqliteCode(e: unknown): string | undefined {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined
}

/**
 * Maps a failed SQLite operation to the port's codes, the same way for every
 * part on SQLite: a `FlotillaError` is kept; an SQLite error becomes
 * `STORE_UNAVAILABLE` with its code in `details.sqliteCode` (retryable when
 * it is transient: busy, locked, I/O); anything else is `INTERNAL`.
 *
 * @param what The part that failed, for the message: `store`, `context store`.
 *
 * @example
 * ```ts
 * try { insert.run(row) } catch (e) { throw sqliteError(e, path, 'store') }
 * ```
 */
export function sqliteError(e: unknown, path: string, what: string): FlotillaError {
  if (isFlotillaError(e)) return e
  const code = sqliteCode(e)
  if (code === undefined) return toFlotillaError(e, 'INTERNAL')
  return new FlotillaError(
    'STORE_UNAVAILABLE',
    `The SQLite ${what} "${path}" refused the operation (${code}: ${(e as Error).message}).${TRANSIENT.test(code) ? ' Another process may hold a lock; retry, or raise busyTimeoutMs.' : ''}`,
    {
      details: { path, sqliteCode: code },
      cause: e,
      retryable: TRANSIENT.test(code),
    },
  )
}
