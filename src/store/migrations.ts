import { FlotillaError } from '../core/errors.js'

/**
 * One versioned change of a store's schema. Versions start at 1 and go up by
 * one; a store records each version it applied, once, and never applies an
 * older one again. Driver-free: `up` is whatever the adapter runs (SQL text
 * for the SQL stores).
 *
 * @example
 * ```ts
 * const migrations: Migration[] = [{ version: 1, name: 'initial', up: 'CREATE TABLE runs (...)' }]
 * ```
 */
export interface Migration<Step = string> {
  /** 1, 2, 3… in order. */
  readonly version: number
  /** A short name, recorded beside the version. */
  readonly name: string
  /** The change to apply. */
  readonly up: Step
}

/**
 * The migrations of `all` a store still needs, oldest first, given the
 * versions it has applied. Throws `STORE_SCHEMA_TOO_NEW` when the store was
 * written by a newer Flotilla (it holds a version this code does not know),
 * naming both versions, and `INTERNAL` when `all` is not numbered 1..n.
 *
 * @param store Where the store lives, for messages (a file path or a redacted URL).
 *
 * @example
 * ```ts
 * for (const m of planMigrations(SQLITE_MIGRATIONS, appliedVersions, 'flotilla.db')) apply(m)
 * ```
 */
export function planMigrations<M extends Migration<unknown>>(
  all: readonly M[],
  applied: Iterable<number>,
  store: string,
): M[] {
  for (let i = 0; i < all.length; i++) {
    if (all[i].version !== i + 1) {
      throw new FlotillaError(
        'INTERNAL',
        `Store migrations must be numbered 1..n; found version ${all[i].version} at position ${i + 1}.`,
        { details: { version: all[i].version } },
      )
    }
  }
  const known = all.length
  const done = new Set(applied)
  let newest = 0
  for (const v of done) newest = Math.max(newest, v)
  if (newest > known) {
    throw new FlotillaError(
      'STORE_SCHEMA_TOO_NEW',
      `The store ${store} has schema version ${newest}, but this Flotilla knows versions up to ${known}. Upgrade Flotilla to use this store, or point the store elsewhere.`,
      { details: { store, storeVersion: newest, codeVersion: known } },
    )
  }
  return all.filter((m) => !done.has(m.version))
}
