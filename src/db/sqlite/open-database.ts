import { mkdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import type Database from 'better-sqlite3'
import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import { sqliteCode } from './errors.js'
import { checkDatabase, migrateDatabase, type SqliteDomain } from './migrate.js'

/** Settings of {@link openDatabase}, resolved. */
export interface DatabaseSettings {
  /** The file, or `:memory:`. */
  path: string
  /** `NORMAL` survives a crash of the process, `FULL` a power loss too. */
  synchronous: 'NORMAL' | 'FULL'
  /** How long to wait for another connection's write lock, in ms. */
  busyTimeoutMs: number
  /** The domains whose tables this connection uses (`STORE_DOMAIN`, `CONTEXT_DOMAIN`…), migrated on open. */
  domains: readonly SqliteDomain[]
}

/**
 * Opens (creating when new) the SQLite file of Flotilla: checks that the
 * file can hold the domains before writing anything to it (see
 * `checkDatabase`), turns on WAL and foreign keys, and applies their pending
 * migrations in one immediate transaction.
 *
 * @example
 * ```ts
 * const db = openDatabase({ path: '.flotilla/flotilla.db', synchronous: 'NORMAL', busyTimeoutMs: 5000, domains: [STORE_DOMAIN] })
 * ```
 */
export function openDatabase(settings: DatabaseSettings): Database.Database {
  const { path } = settings
  const where = path === ':memory:' ? 'in memory' : `"${path}"`
  if (path !== ':memory:') prepareLocation(path)
  const Driver = loadDriver()
  let db: Database.Database
  try {
    db = new Driver(path, { timeout: settings.busyTimeoutMs })
  } catch (e) {
    throw unavailable(`Cannot open the SQLite store ${where}`, e, path)
  }
  try {
    // Refuses a file of something else, or of a newer schema, before anything is written to it.
    const current = checkDatabase(db, where, path, settings.domains)
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${settings.synchronous}`)
    db.pragma('foreign_keys = ON')
    // Checkpoint (copy the WAL into the file, with two fsyncs) every ~16 MB of
    // WAL rather than SQLite's 4 MB: fewer fsyncs per commit on the hot path.
    // The WAL is cut back to 64 MB after a checkpoint if a large batch grew it.
    db.pragma('wal_autocheckpoint = 4000')
    db.pragma('journal_size_limit = 67108864')
    if (!current) migrateDatabase(db, where, path, settings.domains)
    return db
  } catch (e) {
    db.close()
    if (isFlotillaError(e)) throw e
    throw unavailable(`Cannot open the SQLite store ${where}`, e, path)
  }
}

let driver: typeof Database | undefined

/**
 * better-sqlite3, loaded on first use: a native module, so a process that only
 * uses the memory store never loads it, and a broken build is a typed error.
 */
function loadDriver(): typeof Database {
  if (driver !== undefined) return driver
  try {
    driver = createRequire(import.meta.url)('better-sqlite3') as typeof Database
    return driver
  } catch (e) {
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `The SQLite driver (better-sqlite3, a native module) could not be loaded: ${e instanceof Error ? e.message : String(e)}. Run \`npm rebuild better-sqlite3\` (it needs python3, make and a C++ compiler when no prebuilt binary fits), or use the memory or PostgreSQL store.`,
      {
        cause: e,
        retryable: false,
      },
    )
  }
}

/** Refuses a folder; creates the missing parent folders of a new file. */
function prepareLocation(path: string): void {
  const full = resolve(path)
  try {
    if (statSync(full, { throwIfNoEntry: false })?.isDirectory()) {
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The SQLite store path "${path}" is a folder. Give a file path, e.g. "${path.replace(/\/+$/, '')}/flotilla.db".`,
        { details: { path }, retryable: false },
      )
    }
    mkdirSync(dirname(full), { recursive: true })
  } catch (e) {
    if (isFlotillaError(e)) throw e
    throw unavailable(`Cannot create the folder of the SQLite store "${path}"`, e, path)
  }
}

function unavailable(what: string, e: unknown, path: string): FlotillaError {
  const reason = e instanceof Error ? e.message : String(e)
  return new FlotillaError(
    'STORE_UNAVAILABLE',
    `${what}: ${reason}. Check that the path is a writable file location, or choose another store.`,
    {
      details: { path, ...(sqliteCode(e) ? { sqliteCode: sqliteCode(e) } : {}) },
      cause: e,
    },
  )
}
