import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteContextBackend } from '../../src/context/sqlite/sqlite-context-backend.js'
import { CONTEXT_DOMAIN } from '../../src/context/sqlite/schema.js'
import { SECURITY_DOMAIN } from '../../src/security/sqlite/schema.js'
import { defineDomain } from '../../src/db/migrations.js'
import { openDatabase } from '../../src/db/sqlite/open-database.js'
import { openBackend } from '../../src/orchestrator/backend.js'
import { SQLITE_MIGRATIONS, STORE_DOMAIN } from '../../src/store/sqlite/schema.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { expectReleaseContext, expectReleaseRuns, expectWritable, loadSqliteRelease } from './release-fixture.js'

let dir: string
let file: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-migrate-'))
  file = join(dir, 'flotilla.db')
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function raw<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(file)
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

type LedgerRow = { domain: string; version: number; name: string; applied_at: number }
const ledger = (): LedgerRow[] =>
  raw((db) => db.prepare<[], LedgerRow>('SELECT * FROM flotilla_migrations ORDER BY domain, version').all())
const tables = (): string[] =>
  raw((db) =>
    db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => r.name),
  )

const expectedLedger = [
  { domain: 'context', version: 1, name: CONTEXT_DOMAIN.migrations[0].name, applied_at: expect.any(Number) },
  { domain: 'security', version: 1, name: SECURITY_DOMAIN.migrations[0]!.name, applied_at: expect.any(Number) },
  ...SQLITE_MIGRATIONS.map((m) => ({
    domain: 'store',
    version: m.version,
    name: m.name,
    applied_at: expect.any(Number),
  })),
]

describe('SQLite: a file written by Flotilla 0.1.0', () => {
  it('opens with all its data, its version table upgraded in place to one keyed by domain', async () => {
    loadSqliteRelease(file)
    const before = raw((db) =>
      db.prepare<[], Omit<LedgerRow, 'domain'>>('SELECT * FROM flotilla_migrations ORDER BY version').all(),
    )
    expect(before.map((r) => r.version)).toEqual([1, 2, 3])
    const backend = await openBackend(`sqlite:${file}`)
    try {
      await expectReleaseRuns(backend.store)
      await expectReleaseContext(backend.context)
      // The store's rows keep their names and times; the context's baseline is recorded.
      expect(ledger()).toEqual(expectedLedger)
      expect(ledger().filter((r) => r.domain === 'store' && r.version <= 3)).toEqual(
        before.map((r) => ({ domain: 'store', ...r })),
      )
      expect(tables()).not.toContain('flotilla_migrations_0_1')
      expect(raw((db) => db.prepare("SELECT value FROM flotilla_meta WHERE key = 'store'").pluck().get())).toBe(
        'flotilla',
      )
      await expectWritable(backend.store, backend.context)
    } finally {
      await backend.close()
    }
    // Opening again applies nothing.
    const after = ledger()
    const again = await openBackend(`sqlite:${file}`)
    await again.close()
    expect(ledger()).toEqual(after)
  })

  it('upgrades when the context opens first, then the store, each recording only its own domain', async () => {
    loadSqliteRelease(file)
    const context = SqliteContextBackend.open({ path: file })
    await expectReleaseContext(context)
    await context.close()
    expect(ledger().map((r) => [r.domain, r.version])).toEqual([
      ['context', 1],
      ['store', 1],
      ['store', 2],
      ['store', 3],
    ])
    const store = SqliteStore.open({ path: file })
    await expectReleaseRuns(store)
    await store.close()
    expect(ledger()).toEqual(expectedLedger.filter((r) => r.domain !== 'security'))
  })

  it("keeps the query Flotilla 0.1.0 reads its versions with working (it sees the store's newest, so it refuses the file)", async () => {
    loadSqliteRelease(file)
    await SqliteStore.open({ path: file }).close()
    const versions = raw((db) => db.prepare<[], number>('SELECT version FROM flotilla_migrations').pluck().all())
    expect(Math.max(...versions)).toBe(SQLITE_MIGRATIONS.length)
  })
})

describe('SQLite migrator', () => {
  it('creates a new file with the store and context domains, and applies nothing twice', async () => {
    const backend = await openBackend(`sqlite:${file}`)
    await backend.close()
    expect(ledger()).toEqual(expectedLedger)
    const first = ledger()
    await SqliteStore.open({ path: file }).close()
    expect(ledger()).toEqual(first)
  })

  it("refuses a file whose context version is newer than this code's with STORE_SCHEMA_TOO_NEW, naming the domain; the store still opens", async () => {
    const backend = await openBackend(`sqlite:${file}`)
    await backend.close()
    raw((db) =>
      db
        .prepare("INSERT INTO flotilla_migrations (domain, version, name, applied_at) VALUES ('context', 7, 'x', 0)")
        .run(),
    )
    expect(() => SqliteContextBackend.open({ path: file })).toThrow(
      expect.objectContaining({
        code: 'STORE_SCHEMA_TOO_NEW',
        details: expect.objectContaining({ domain: 'context', storedVersion: 7, supportedVersion: 1 }),
      }),
    )
    const store = SqliteStore.open({ path: file })
    await store.close()
  })

  it('applies a domain added later (version 2 of a list) once, under the write lock, in registration order', () => {
    const db = openDatabase({ path: file, synchronous: 'NORMAL', busyTimeoutMs: 1000, domains: [STORE_DOMAIN] })
    db.close()
    const v2 = defineDomain('context', [
      ...CONTEXT_DOMAIN.migrations,
      { version: 2, name: 'a later change', up: 'CREATE TABLE flotilla_ctx_later (id TEXT PRIMARY KEY)' },
    ])
    for (let i = 0; i < 2; i++) {
      openDatabase({ path: file, synchronous: 'NORMAL', busyTimeoutMs: 1000, domains: [v2, STORE_DOMAIN] }).close()
    }
    expect(ledger().map((r) => [r.domain, r.version])).toEqual([
      ['context', 1],
      ['context', 2],
      ...SQLITE_MIGRATIONS.map((m) => ['store', m.version]),
    ])
    expect(tables()).toContain('flotilla_ctx_later')
  })

  it('rolls a failing migration back whole: no tables, no versions recorded', () => {
    const broken = defineDomain('context', [
      { version: 1, name: 'fine', up: 'CREATE TABLE flotilla_ctx_a (id TEXT)' },
      { version: 2, name: 'broken', up: 'CREATE TABLE flotilla_ctx_b (id TEXT); SELECT * FROM no_such_table' },
    ])
    expect(() => openDatabase({ path: file, synchronous: 'NORMAL', busyTimeoutMs: 1000, domains: [broken] })).toThrow(
      expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('no_such_table') }),
    )
    expect(tables()).toEqual([])
  })
})
