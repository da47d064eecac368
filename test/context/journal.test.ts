import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ContextStore } from '../../src/context/context-store.js'
import { JOURNAL_TTL_MS, MEMORY_JOURNAL_TTL_MS } from '../../src/context/journal.js'
import { MemoryContextBackend } from '../../src/context/memory/memory-context-backend.js'
import { SqliteContextBackend } from '../../src/context/sqlite/sqlite-context-backend.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import { keptJsonText, parseKeepingText } from '../../src/core/json-text.js'

// The journal of durable steps: kept apart from the cache's keys, expiring
// after an hour in memory (a week on a durable backend).

describe('TaskJournal', () => {
  it('keeps JSON values, including undefined and null; a missing key is not found', async () => {
    const store = new ContextStore(new MemoryContextBackend(), { clock: new FakeClock() })
    await store.journal.put('a:run:task:model:0', { text: 'hi', n: [1, 2] })
    await store.journal.put('a:run:task:nothing', undefined)
    expect(await store.journal.get('a:run:task:model:0')).toEqual({ found: true, value: { text: 'hi', n: [1, 2] } })
    expect(await store.journal.get('a:run:task:nothing')).toEqual({ found: true, value: undefined })
    expect(await store.journal.get('a:run:task:model:1')).toEqual({ found: false })
  })

  it('keeps a value parsed with parseKeepingText as its text, without checking and writing it out again', async () => {
    const backend = new MemoryContextBackend()
    const store = new ContextStore(backend, { clock: new FakeClock() })
    const text = '{"content":[{"type":"text","text":"ok"}],"usage":{"in":1}}'
    const value = parseKeepingText(text)
    expect(keptJsonText(value)).toBe(text)
    expect(keptJsonText({ content: [] })).toBeUndefined()
    expect(keptJsonText('a string')).toBeUndefined()
    await store.journal.put('a:run:task:model:0', value)
    expect(await store.journal.get('a:run:task:model:0')).toEqual({ found: true, value })
    expect((await backend.cacheGet('#journal:a:run:task:model:0'))?.text).toBe(`{"v":${text}}`)
  })

  it('cannot be reached through the cache, and refuses what JSON cannot hold', async () => {
    const store = new ContextStore(new MemoryContextBackend(), { clock: new FakeClock() })
    await store.journal.put('k', 1)
    expect(await store.getShared('anyone', 'k')).toBeUndefined()
    await expect(store.journal.put('big', 10n)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
  })

  it('expires after an hour on a memory backend', async () => {
    const clock = new FakeClock()
    const store = new ContextStore(new MemoryContextBackend(), { clock })
    await store.journal.put('k', 'v')
    await clock.advance(MEMORY_JOURNAL_TTL_MS - 1)
    expect((await store.journal.get('k')).found).toBe(true)
    await clock.advance(1)
    expect((await store.journal.get('k')).found).toBe(false)
    expect(JOURNAL_TTL_MS).toBe(7 * 24 * 3600_000)
  })
})

describe('TaskJournal on SQLite (group commit)', () => {
  it('commits the entries written in one turn together; each put resolves once it can be read by another connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-journal-'))
    const file = join(dir, 'j.db')
    const store = new ContextStore(SqliteContextBackend.open({ path: file }), { clock: new FakeClock() })
    const other = new ContextStore(SqliteContextBackend.open({ path: file }), { clock: new FakeClock() })
    try {
      const puts = Array.from({ length: 50 }, (_, i) => store.journal.put(`a:run:t${i}:model:0`, { i }))
      // Nothing is committed before the turn ends.
      expect(await other.journal.get('a:run:t0:model:0')).toEqual({ found: false })
      await Promise.all(puts)
      for (const i of [0, 17, 49])
        expect(await other.journal.get(`a:run:t${i}:model:0`)).toEqual({ found: true, value: { i } })
      // A later write of the same key replaces it; writes of one turn apply in order.
      await Promise.all([store.journal.put('k', 1), store.journal.put('k', 2)])
      expect(await other.journal.get('k')).toEqual({ found: true, value: 2 })
    } finally {
      await store.close()
      await other.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a failed commit rejects every put of its turn, and keeps none of them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-journal-'))
    const store = new ContextStore(SqliteContextBackend.open({ path: join(dir, 'j.db') }), { clock: new FakeClock() })
    try {
      await store.close()
      const puts = [store.journal.put('a', 1), store.journal.put('b', 2)]
      for (const p of puts) await expect(p).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
      // A value JSON cannot hold is refused at once, before anything is queued.
      await expect(store.journal.put('c', 10n)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
