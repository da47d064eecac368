import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { AuditLog, auditHash, GENESIS_HASH } from '../../src/security/audit.js'
import { SqliteAuditLogStore } from '../../src/security/sqlite/sqlite-audit-log.js'
import { SqliteSecurityStore } from '../../src/security/sqlite/sqlite-security-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { auditLogContract, securityStoreContract } from '../../src/testing/security-contract.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'
import { auditTamperSuite } from './audit-tamper.js'

const root = mkdtempSync(join(tmpdir(), 'flotilla-security-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let files = 0
/** A new database file in a folder of its own. */
const newFile = (): string => join(mkdtempSync(join(root, `db${++files}-`)), 'flotilla.db')

securityStoreContract({
  name: 'sqlite (file)',
  create: async () => SqliteSecurityStore.open({ path: newFile() }),
  destroy: (store) => (store as SqliteSecurityStore).close(),
})

securityStoreContract({
  name: 'sqlite (:memory:)',
  create: async () => SqliteSecurityStore.open({ path: ':memory:' }),
  destroy: (store) => (store as SqliteSecurityStore).close(),
})

// Two handles in one test are two connections to one file, as two processes would open it.
let shared: string | undefined
auditLogContract({
  name: 'sqlite (two connections on one file)',
  create: async () => SqliteAuditLogStore.open({ path: (shared ??= newFile()) }),
  destroy: async (log) => {
    await (log as SqliteAuditLogStore).close()
    shared = undefined
  },
})

auditTamperSuite('sqlite', async () => {
  const path = newFile()
  const store = SqliteAuditLogStore.open({ path })
  const raw = new Database(path)
  return {
    store,
    table: 'flotilla_audit',
    sql: async (text, values = []) => void raw.prepare(text).run(...(values as unknown[])),
    close: async () => {
      raw.close()
      await store.close()
    },
  }
})

describe('SQLite security adapters', () => {
  const opened: { close(): unknown }[] = []
  const track = <T extends { close(): unknown }>(x: T): T => {
    opened.push(x)
    return x
  }
  afterEach(async () => {
    for (const x of opened.splice(0).reverse()) await x.close()
  })

  it('live in the file of the store: their tables beside its, the security domain recorded once', async () => {
    const path = newFile()
    const store = track(SqliteStore.open({ path }))
    const keys = track(SqliteSecurityStore.open({ path }))
    track(SqliteAuditLogStore.open({ path }))
    await keys.putBlock({ target: 'ip:1.2.3.4', reason: 'r', createdAt: 1, until: 10, createdBy: 't' })
    await store.close()
    const raw = track(new Database(path, { readonly: true }))
    const names = raw
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
      .all()
      .map((r) => r.name)
    expect(names).toEqual(
      expect.arrayContaining([
        'flotilla_api_keys',
        'flotilla_audit',
        'flotilla_audit_by_action',
        'flotilla_audit_by_actor',
        'flotilla_audit_by_at',
        'flotilla_audit_by_resource',
        'flotilla_blocks',
        'runs',
      ]),
    )
    expect(
      raw.prepare("SELECT domain, version, name FROM flotilla_migrations WHERE domain = 'security'").all(),
    ).toEqual([{ domain: 'security', version: 1, name: 'api keys, blocks, audit log' }])
  })

  it('keep the details of an entry as JSON text, exactly as given, and read them back', async () => {
    const path = newFile()
    const audit = new AuditLog(track(SqliteAuditLogStore.open({ path })))
    const details = { z: 'last', a: [1, 2.5, { y: null, x: 'é' }], big: 2 ** 52, empty: {} }
    const e = await audit.record({ actor: 'cli', action: 'a.b', resource: 'r:1', outcome: 'failed', details })
    const raw = track(new Database(path, { readonly: true }))
    expect(raw.prepare('SELECT details FROM flotilla_audit WHERE seq = 1').pluck().get()).toBe(JSON.stringify(details))
    const [back] = await audit.query()
    expect(back).toEqual(e)
    expect(Object.keys(back.details!)).toEqual(['z', 'a', 'big', 'empty'])
    const plain = await audit.record({ actor: 'cli', action: 'a.b', resource: 'r:2', outcome: 'succeeded' })
    expect(raw.prepare('SELECT details, request_id FROM flotilla_audit WHERE seq = 2').get()).toEqual({
      details: null,
      request_id: null,
    })
    expect((await audit.query({ afterSeq: 1 }))[0]).toEqual(plain)
  })

  it('append takes the write lock before reading the last entry: a writer elsewhere is waited for, then chained on', async () => {
    const path = newFile()
    const log = track(SqliteAuditLogStore.open({ path, busyTimeoutMs: 50 }))
    const audit = new AuditLog(log)
    const first = await audit.record({ actor: 'a', action: 'x.y', resource: 'r:1', outcome: 'succeeded' })
    // Another process holds the write lock and appends entry 2 under it.
    const other = track(new Database(path))
    other.exec('BEGIN IMMEDIATE')
    const body = { ...first, seq: 2, actor: 'other', prevHash: first.hash }
    other
      .prepare(
        'INSERT INTO flotilla_audit (seq, at, actor, action, resource, outcome, request_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(2, body.at, body.actor, body.action, body.resource, body.outcome, null, null, body.prevHash, auditHash(body))
    await expect(
      audit.record({ actor: 'a', action: 'x.y', resource: 'r:2', outcome: 'succeeded' }),
    ).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true })
    other.exec('COMMIT')
    const third = await audit.record({ actor: 'a', action: 'x.y', resource: 'r:3', outcome: 'succeeded' })
    expect(third).toMatchObject({ seq: 3, prevHash: auditHash(body) })
    expect(await audit.verify()).toMatchObject({ ok: true, checked: 3 })
  })

  it('a build that throws writes nothing; a closed adapter refuses with STORE_UNAVAILABLE', async () => {
    const path = newFile()
    const log = SqliteAuditLogStore.open({ path })
    await expect(
      log.append(() => {
        throw new Error('no')
      }),
    ).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(await log.query({})).toEqual([])
    const first = await log.append((last) => {
      expect(last).toBeUndefined()
      const body = {
        ...{ seq: 1, at: 1, actor: 'a', action: 'b.c', resource: 'r', outcome: 'succeeded' as const },
        ...{ requestId: null, details: null, prevHash: GENESIS_HASH },
      }
      return { ...body, hash: auditHash(body) }
    })
    expect(first.seq).toBe(1)
    await log.close()
    await log.close()
    await expect(log.query({})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    const keys = SqliteSecurityStore.open({ path })
    await keys.close()
    await expect(keys.listKeys()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
  })

  it('refuses bad options with VALIDATION_FAILED', () => {
    expect(() => SqliteSecurityStore.open({ path: '' })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
    expect(() => SqliteAuditLogStore.open({ path: newFile(), busyTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    )
  })

  it(
    'keeps one chain when three processes append to one file at once: seq 1..n without gaps, verify ok',
    { timeout: 180_000 },
    async () => {
      ensureFreshBuild(['core', 'db', 'security'])
      const path = newFile()
      // The tables exist before the writers start (each would also create them, once, under the lock).
      await SqliteAuditLogStore.open({ path }).close()
      const writer = fileURLToPath(new URL('./audit-writer.mjs', import.meta.url))
      const startAt = String(Date.now() + 1_500)
      const run = promisify(execFile)
      await Promise.all(['p1', 'p2', 'p3'].map((who) => run(process.execPath, [writer, path, who, '150', startAt])))
      const audit = new AuditLog(track(SqliteAuditLogStore.open({ path })))
      const all = [...(await audit.query({ limit: 1000 }))]
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 450 }, (_, i) => i + 1))
      for (const who of ['p1', 'p2', 'p3']) {
        const mine = all.filter((e) => e.actor === who).map((e) => e.details?.i)
        expect(mine).toEqual(Array.from({ length: 150 }, (_, i) => i))
      }
      // The writers interleaved (not one after the other), and the chain holds.
      const switches = all.filter((e, i) => i > 0 && e.actor !== all[i - 1].actor).length
      expect(switches).toBeGreaterThan(2)
      expect(await audit.verify()).toMatchObject({ ok: true, checked: 450 })
    },
  )
})
