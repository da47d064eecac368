import { mkdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import type Database from 'better-sqlite3'
import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import { sqliteCode } from '../../db/sqlite/errors.js'
import { planMigrations } from '../migrations.js'
import { SQLITE_BOOTSTRAP, SQLITE_MIGRATIONS, STORE_MARK } from './schema.js'

/** Settings of {@link openDatabase}, resolved. */
export interface DatabaseSettings {
  path: string
  synchronous: 'NORMAL' | 'FULL'
  busyTimeoutMs: number
}

/** Error codes of SQLite that mean "this file is not a (sound) SQLite database". */
const NOT_A_DATABASE = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT'])

/**
 * Opens (creating when new) the SQLite file of a Flotilla store: checks the
 * file is a Flotilla store before writing anything to it, turns on WAL and
 * foreign keys, and applies pending migrations in one transaction.
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
    const tables = userTables(db, where, path)
    if (tables.size > 0 && !tables.has('flotilla_meta')) {
      throw notFlotilla(
        `${where} is an SQLite database of something else (tables: ${[...tables].slice(0, 5).join(', ')}), not a Flotilla store. Point the store at another file (--store, FLOTILLA_STORE); Flotilla leaves this one untouched.`,
        path,
      )
    }
    if (tables.has('flotilla_meta')) checkMark(db, where, path)
    // Refuses a store of a newer schema before anything is written to it.
    const current =
      tables.has('flotilla_migrations') && planMigrations(SQLITE_MIGRATIONS, appliedVersions(db), where).length === 0
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${settings.synchronous}`)
    db.pragma('foreign_keys = ON')
    // Checkpoint (copy the WAL into the file, with two fsyncs) every ~16 MB of
    // WAL rather than SQLite's 4 MB: fewer fsyncs per commit on the hot path.
    // The WAL is cut back to 64 MB after a checkpoint if a large batch grew it.
    db.pragma('wal_autocheckpoint = 4000')
    db.pragma('journal_size_limit = 67108864')
    if (!current) migrate(db, where)
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

/** The names of the tables in the file (none for a new file); `STORE_NOT_FLOTILLA` for a file that is not SQLite. */
function userTables(db: Database.Database, where: string, path: string): Set<string> {
  try {
    const rows = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all()
    return new Set(rows.map((r) => r.name))
  } catch (e) {
    if (NOT_A_DATABASE.has(sqliteCode(e) ?? '')) {
      throw new FlotillaError(
        'STORE_NOT_FLOTILLA',
        `${where} is not an SQLite database (or is corrupt), so it cannot be a Flotilla store. Point the store at another file; Flotilla leaves this one untouched.`,
        {
          details: { path, sqliteCode: sqliteCode(e) },
          cause: e,
        },
      )
    }
    throw e
  }
}

function checkMark(db: Database.Database, where: string, path: string): void {
  const row = db.prepare<[], { value: string }>("SELECT value FROM flotilla_meta WHERE key = 'store'").get()
  if (row?.value !== STORE_MARK)
    throw notFlotilla(
      `${where} has a flotilla_meta table but no Flotilla store mark. Point the store at another file.`,
      path,
    )
}

/** Applies the pending migrations in one immediate transaction (so two processes opening a new file do not both migrate). */
function migrate(db: Database.Database, where: string): void {
  db.transaction(() => {
    db.exec(SQLITE_BOOTSTRAP)
    const now = Date.now()
    const mark = db.prepare<[string, string], unknown>('INSERT OR IGNORE INTO flotilla_meta (key, value) VALUES (?, ?)')
    mark.run('store', STORE_MARK)
    mark.run('created_at', new Date(now).toISOString())
    const record = db.prepare<[number, string, number], unknown>(
      'INSERT INTO flotilla_migrations (version, name, applied_at) VALUES (?, ?, ?)',
    )
    for (const m of planMigrations(SQLITE_MIGRATIONS, appliedVersions(db), where)) {
      db.exec(m.up)
      record.run(m.version, m.name, now)
    }
  }).immediate()
}

function appliedVersions(db: Database.Database): number[] {
  return db
    .prepare<[], { version: number }>('SELECT version FROM flotilla_migrations')
    .all()
    .map((r) => r.version)
}

function notFlotilla(message: string, path: string): FlotillaError {
  return new FlotillaError('STORE_NOT_FLOTILLA', message, { details: { path } })
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
