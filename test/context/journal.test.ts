import { describe, expect, it } from 'vitest'
import { ContextStore } from '../../src/context/context-store.js'
import { JOURNAL_TTL_MS, MEMORY_JOURNAL_TTL_MS } from '../../src/context/journal.js'
import { MemoryContextBackend } from '../../src/context/memory/memory-context-backend.js'
import { FakeClock } from '../../src/core/fake-clock.js'

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
