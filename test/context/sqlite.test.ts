import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ContextBackend } from '../../src/context/backend.js'
import { ContextStore } from '../../src/context/context-store.js'
import { SqliteContextBackend } from '../../src/context/sqlite/sqlite-context-backend.js'
import { newRunId } from '../../src/core/ids.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { contextContract } from '../../src/testing/context-contract.js'

const folders = new Map<ContextBackend, string>()

contextContract({
  name: 'sqlite (file)',
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-ctx-'))
    const backend = SqliteContextBackend.open({ path: join(dir, 'flotilla.db') })
    folders.set(backend, dir)
    return backend
  },
  destroy: async (backend) => {
    await backend.close()
    rmSync(folders.get(backend)!, { recursive: true, force: true })
    folders.delete(backend)
  },
})

contextContract({ name: 'sqlite (:memory:)', create: async () => SqliteContextBackend.open({ path: ':memory:' }) })

describe('SqliteContextBackend', () => {
  let dir: string
  let file: string
  const opened: { close(): Promise<void> }[] = []
  const track = <T extends { close(): Promise<void> }>(x: T): T => {
    opened.push(x)
    return x
  }
  const tables = (): string[] => {
    const db = new Database(file, { readonly: true })
    try {
      return db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((r) => r.name)
    } finally {
      db.close()
    }
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-ctx-'))
    file = join(dir, 'flotilla.db')
  })

  afterEach(async () => {
    for (const x of opened.splice(0)) await x.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('shares the file of the Flotilla store, in tables prefixed flotilla_ctx_, whichever opens it first', async () => {
    const context = track(new ContextStore(SqliteContextBackend.open({ path: file })))
    await context.put('orchestrator', 'a', { n: 1 })
    const store = track(SqliteStore.open({ path: file }))
    await store.commit({ ops: [], events: [] })
    expect(await store.getRun(newRunId())).toBeUndefined()
    expect(tables().filter((t) => t.startsWith('flotilla_ctx_'))).toEqual([
      'flotilla_ctx_artifacts',
      'flotilla_ctx_blobs',
      'flotilla_ctx_cache',
      'flotilla_ctx_versions',
    ])
    expect(tables()).toContain('runs')
    // The other way round: a context store opened on an existing Flotilla store file.
    const other = join(dir, 'other.db')
    track(SqliteStore.open({ path: other }))
    const late = track(new ContextStore(SqliteContextBackend.open({ path: other })))
    expect((await late.put('orchestrator', 'b', 1)).version).toBe(1)
  })

  it('keeps artifacts, versions and cache entries across close and reopen (tables are created once)', async () => {
    const first = new ContextStore(SqliteContextBackend.open({ path: file }))
    await first.put('orchestrator', 'doc', 'one')
    await first.put('orchestrator', 'doc', new Uint8Array([1, 2, 3]), { tags: ['bin'], metadata: { k: 'v' } })
    await first.share('orchestrator', 'key', { x: 1 }, { ttlMs: 60_000 })
    await first.close()
    const again = track(new ContextStore(SqliteContextBackend.open({ path: file })))
    expect(await again.get('orchestrator', 'doc')).toMatchObject({
      version: 2,
      basedOn: 1,
      encoding: 'bytes',
      tags: ['bin'],
      metadata: { k: 'v' },
      content: new Uint8Array([1, 2, 3]),
    })
    expect((await again.get('orchestrator', 'doc', { version: 1 })).content).toBe('one')
    expect(await again.getShared('orchestrator', 'key')).toEqual({ x: 1 })
  })

  it('keeps blob reference counts exact under interleaved writes, deletes and sweeps from two stores', async () => {
    const stores = [
      track(new ContextStore(SqliteContextBackend.open({ path: file }), { keepVersions: 2 })),
      track(new ContextStore(SqliteContextBackend.open({ path: file }), { keepVersions: 2 })),
    ]
    const contents = ['x', 'y', { z: 1 }, new Uint8Array([1])]
    const ops: Promise<unknown>[] = []
    for (let i = 0; i < 150; i++) {
      const s = stores[i % 2]
      const id = `a${i % 7}`
      if (i % 11 === 0) ops.push(s.delete('o', id))
      else if (i % 13 === 0) ops.push(s.sweep())
      else ops.push(s.put('o', id, contents[(i * 3) % 4], i % 5 === 0 ? { ttlMs: 1 } : {}))
    }
    expect((await Promise.allSettled(ops)).filter((r) => r.status === 'rejected')).toEqual([])
    const db = new Database(file, { readonly: true })
    try {
      const blobs = db
        .prepare<
          [],
          { refs: number; n: number }
        >('SELECT b.refs, (SELECT count(*) FROM flotilla_ctx_versions v WHERE v.content_hash = b.hash) AS n FROM flotilla_ctx_blobs b')
        .all()
      expect(blobs.length).toBeGreaterThan(0)
      for (const b of blobs) expect(b.refs).toBe(b.n)
      expect(blobs.every((b) => b.n > 0)).toBe(true)
      expect(
        db
          .prepare<
            [],
            { n: number }
          >('SELECT count(*) AS n FROM flotilla_ctx_versions v LEFT JOIN flotilla_ctx_blobs b ON b.hash = v.content_hash WHERE b.hash IS NULL')
          .get()!.n,
      ).toBe(0)
    } finally {
      db.close()
    }
  })

  it('refuses a file that is not a Flotilla store, leaving it untouched', () => {
    writeFileSync(file, '')
    const db = new Database(file)
    db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)')
    db.close()
    expect(() => SqliteContextBackend.open({ path: file })).toThrow(
      expect.objectContaining({ code: 'STORE_NOT_FLOTILLA' }),
    )
    expect(tables()).toEqual(['invoices'])
  })

  it('answers VALIDATION_FAILED to bad options', () => {
    expect(() => SqliteContextBackend.open({ path: '' })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field: 'path' } }),
    )
    expect(() => SqliteContextBackend.open({ path: file, busyTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field: 'busyTimeoutMs' } }),
    )
  })
})
