import { FlotillaError } from '../../core/errors.js'

/** Options of `SqliteStore.open`. */
export interface SqliteStoreOptions {
  /** The database file (created with its folders when missing), or `:memory:`. */
  path: string
  /**
   * SQLite's `synchronous` setting. `NORMAL` (in WAL mode) loses nothing when
   * the process crashes, only the last commits on a power loss; `FULL` syncs
   * every commit to disk.
   * @default 'NORMAL'
   */
  synchronous?: 'NORMAL' | 'FULL'
  /**
   * How long a write waits for another process's lock before failing with
   * `STORE_UNAVAILABLE`.
   * @default 5000
   */
  busyTimeoutMs?: number
}

/** Options with their defaults, checked (`VALIDATION_FAILED` names the field). */
export function resolveOptions(options: SqliteStoreOptions): {
  path: string
  synchronous: 'NORMAL' | 'FULL'
  busyTimeoutMs: number
} {
  const { path, synchronous = 'NORMAL', busyTimeoutMs = 5000 } = options
  const bad = (field: string, want: string, got: unknown): FlotillaError =>
    new FlotillaError(
      'VALIDATION_FAILED',
      `SqliteStore option "${field}" must be ${want}; got ${JSON.stringify(got) ?? String(got)}.`,
      { details: { field } },
    )
  if (typeof path !== 'string' || path.length === 0) throw bad('path', 'a file path or ":memory:"', path)
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') throw bad('synchronous', '"NORMAL" or "FULL"', synchronous)
  if (typeof busyTimeoutMs !== 'number' || !Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw bad('busyTimeoutMs', 'a whole number of milliseconds ≥ 0', busyTimeoutMs)
  return { path, synchronous, busyTimeoutMs }
}
