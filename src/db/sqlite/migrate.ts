import type Database from 'better-sqlite3'
import { FlotillaError } from '../../core/errors.js'
import {
  FLOTILLA_PREFIX,
  LEGACY_DOMAIN,
  orderDomains,
  planMigrations,
  type Migration,
  type MigrationDomain,
} from '../migrations.js'
import { sqliteCode } from './errors.js'

/** The migrations of one domain on SQLite (`defineDomain(name, migrations)`); `up` is SQL text. */
export type SqliteDomain = MigrationDomain<string>

/** The value of `flotilla_meta.store`: the mark of a Flotilla file. */
export const STORE_MARK = 'flotilla'

/** The mark and the version table: one row per domain and version applied. */
const LEDGER = `
CREATE TABLE IF NOT EXISTS flotilla_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flotilla_migrations (
  domain TEXT NOT NULL,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (domain, version)
) WITHOUT ROWID;
`

/** Flotilla 0.1's version table (no domain column) rebuilt in the layout above, its rows filed under the legacy domain. */
const UPGRADE_LEDGER = `
ALTER TABLE flotilla_migrations RENAME TO flotilla_migrations_0_1;
${LEDGER}
INSERT INTO flotilla_migrations (domain, version, name, applied_at)
  SELECT '${LEGACY_DOMAIN}', version, name, applied_at FROM flotilla_migrations_0_1;
DROP TABLE flotilla_migrations_0_1;
`

/** Error codes of SQLite that mean "this file is not a (sound) SQLite database". */
const NOT_A_DATABASE = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT'])

/** What the file holds and what it still needs. */
interface Plan {
  /** The file carries the Flotilla mark. */
  marked: boolean
  /** Its tables that are not Flotilla's (none start with `flotilla_`), when unmarked. */
  foreign: string[]
  ledger: 'none' | '0.1' | 'current'
  todo: { domain: SqliteDomain; migrations: Migration[] }[]
}

/**
 * Checks, writing nothing, that the file can hold `domains`, and says whether
 * it is up to date. Throws `STORE_NOT_FLOTILLA` for a file that is not SQLite,
 * or holds other programs' tables and no Flotilla mark (when a domain is
 * exclusive), and `STORE_SCHEMA_TOO_NEW` when a domain's stored version is
 * newer than this code's.
 *
 * @param where The file, for messages (`"path"`, `in memory`).
 *
 * @example
 * ```ts
 * if (!checkDatabase(db, '"flotilla.db"', 'flotilla.db', [STORE_DOMAIN])) migrateDatabase(db, …)
 * ```
 */
export function checkDatabase(
  db: Database.Database,
  where: string,
  path: string,
  domains: readonly SqliteDomain[],
): boolean {
  return upToDate(plan(db, where, path, domains))
}

/**
 * Brings the tables of `domains` up to date in one immediate transaction
 * (SQLite's write lock: two processes opening one file apply each migration
 * once). Each domain has its own versions in `flotilla_migrations`; a file
 * written by Flotilla 0.1 (a version table without a domain column) is
 * upgraded in place. Refuses like {@link checkDatabase}, changing nothing.
 *
 * @example
 * ```ts
 * migrateDatabase(db, '"flotilla.db"', 'flotilla.db', [STORE_DOMAIN, CONTEXT_DOMAIN])
 * ```
 */
export function migrateDatabase(
  db: Database.Database,
  where: string,
  path: string,
  domains: readonly SqliteDomain[],
): void {
  db.transaction(() => {
    const p = plan(db, where, path, domains)
    if (upToDate(p)) return
    db.exec(p.ledger === '0.1' ? UPGRADE_LEDGER : LEDGER)
    const now = Date.now()
    if (!p.marked && p.foreign.length === 0) {
      const mark = db.prepare<[string, string], unknown>(
        'INSERT OR IGNORE INTO flotilla_meta (key, value) VALUES (?, ?)',
      )
      mark.run('store', STORE_MARK)
      mark.run('created_at', new Date(now).toISOString())
    }
    const record = db.prepare<[string, number, string, number], unknown>(
      'INSERT INTO flotilla_migrations (domain, version, name, applied_at) VALUES (?, ?, ?, ?)',
    )
    for (const { domain, migrations } of p.todo) {
      for (const m of migrations) {
        db.exec(m.up)
        record.run(domain.name, m.version, m.name, now)
      }
    }
  }).immediate()
}

function upToDate(p: Plan): boolean {
  return p.ledger === 'current' && p.todo.length === 0 && (p.marked || p.foreign.length > 0)
}

function plan(db: Database.Database, where: string, path: string, domains: readonly SqliteDomain[]): Plan {
  const tables = userTables(db, where, path)
  let marked = false
  if (tables.has('flotilla_meta')) {
    const row = db.prepare<[], { value: string }>("SELECT value FROM flotilla_meta WHERE key = 'store'").get()
    if (row !== undefined && row.value !== STORE_MARK)
      throw notFlotilla(
        `${where} has a flotilla_meta table but no Flotilla store mark. Point the store at another file.`,
        path,
      )
    marked = row !== undefined
  }
  const foreign = marked ? [] : [...tables].filter((t) => !t.startsWith(FLOTILLA_PREFIX))
  if (foreign.length > 0 && domains.some((d) => d.exclusive)) {
    throw notFlotilla(
      `${where} is an SQLite database of something else (tables: ${foreign.slice(0, 5).join(', ')}), not a Flotilla store. Point the store at another file (--store, FLOTILLA_STORE); Flotilla leaves this one untouched.`,
      path,
    )
  }
  const ledger = !tables.has('flotilla_migrations') ? 'none' : hasDomainColumn(db) ? 'current' : '0.1'
  const applied = new Map<string, number[]>()
  if (ledger !== 'none') {
    const rows = db
      .prepare<
        [],
        { domain: string; version: number }
      >(ledger === 'current' ? 'SELECT domain, version FROM flotilla_migrations' : `SELECT '${LEGACY_DOMAIN}' AS domain, version FROM flotilla_migrations`)
      .all()
    for (const r of rows) applied.set(r.domain, [...(applied.get(r.domain) ?? []), r.version])
  }
  const todo = orderDomains(domains)
    .map((domain) => ({ domain, migrations: planMigrations(domain, applied.get(domain.name) ?? [], where) }))
    .filter((t) => t.migrations.length > 0)
  return { marked, foreign, ledger, todo }
}

function hasDomainColumn(db: Database.Database): boolean {
  return db
    .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('flotilla_migrations')")
    .all()
    .some((c) => c.name === 'domain')
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
        { details: { path, sqliteCode: sqliteCode(e) }, cause: e },
      )
    }
    throw e
  }
}

function notFlotilla(message: string, path: string): FlotillaError {
  return new FlotillaError('STORE_NOT_FLOTILLA', message, { details: { path } })
}
