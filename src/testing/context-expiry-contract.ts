// The expiry part of the context contract: artifacts with a TTL, and the
// shared cache, whose entries always have one; both on a fake clock.
import { beforeEach, describe, expect, it } from 'vitest'
import type { ContextStore } from '../context/context-store.js'
import type { FakeClock } from '../core/fake-clock.js'
import { type ContextUnderTest, T0 } from './context-fixtures.js'

/**
 * The expiry part of the context contract: artifacts expiring at their
 * latest version's `expiresAt`, sweeping, and the shared cache (values kept
 * for a TTL, as copies, under `cache:<key>` permissions). Run by
 * `contextContract` on the store `get()` returns.
 */
export function contextExpiryContract(get: () => ContextUnderTest): void {
  let store: ContextStore
  let clock: FakeClock
  beforeEach(() => {
    ;({ store, clock } = get())
  })

  describe('TTL', () => {
    it("expires an artifact at the latest version's expiresAt: ARTIFACT_EXPIRED once, then it is gone", async () => {
      const v = await store.put('orchestrator', 'tmp', { a: 1 }, { ttlMs: 1000 })
      expect(v.expiresAt).toBe(T0 + 1000)
      await clock.advance(999)
      expect((await store.get('orchestrator', 'tmp')).content).toEqual({ a: 1 })
      await clock.advance(1)
      await expect(store.get('orchestrator', 'tmp')).rejects.toMatchObject({
        code: 'ARTIFACT_EXPIRED',
        details: { id: 'tmp', expiresAt: T0 + 1000 },
      })
      await expect(store.get('orchestrator', 'tmp')).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' })
      expect(await store.stats()).toMatchObject({ artifacts: 0, versions: 0, blobs: 0 })
    })

    it('lets a later write without ttlMs make the artifact permanent, and one with ttlMs set a new expiry', async () => {
      await store.put('orchestrator', 'doc', 1, { ttlMs: 100 })
      await store.put('orchestrator', 'doc', 2)
      await clock.advance(1000)
      expect((await store.get('orchestrator', 'doc')).version).toBe(2)
      expect((await store.history('orchestrator', 'doc')).map((v) => v.expiresAt)).toEqual([T0 + 100, null])
      await store.put('orchestrator', 'doc', 3, { ttlMs: 50 })
      await clock.advance(50)
      await expect(store.history('orchestrator', 'doc')).rejects.toMatchObject({ code: 'ARTIFACT_EXPIRED' })
    })

    it('treats an expired artifact as gone: left out of list, recreated from version 1, refused with a numbered basedOn', async () => {
      await store.put('orchestrator', 'a', 1, { ttlMs: 10 })
      await store.put('orchestrator', 'a', 2, { ttlMs: 10 })
      await store.put('orchestrator', 'b', 1, { ttlMs: 10 })
      await store.put('orchestrator', 'keep', 1)
      await clock.advance(10)
      expect((await store.list('orchestrator')).map((x) => x.id)).toEqual(['keep'])
      expect(await store.put('orchestrator', 'a', 'new', { basedOn: null })).toMatchObject({
        version: 1,
        basedOn: null,
        expiresAt: null,
      })
      expect((await store.history('orchestrator', 'a')).map((v) => v.version)).toEqual([1])
      await expect(store.put('orchestrator', 'b', 'x', { basedOn: 1 })).rejects.toMatchObject({
        code: 'ARTIFACT_EXPIRED',
        details: { id: 'b' },
      })
      expect(await store.delete('orchestrator', 'b')).toBe(false)
      expect(await store.stats()).toMatchObject({ artifacts: 2, versions: 2 })
    })

    it('sweeps expired artifacts and cache entries, counting them, and keeps the rest', async () => {
      await store.put('orchestrator', 'x', 1, { ttlMs: 100 })
      await store.put('orchestrator', 'y', 1, { ttlMs: 100 })
      await store.put('orchestrator', 'z', 1, { ttlMs: 1000 })
      await store.share('orchestrator', 'c1', 1, { ttlMs: 100 })
      await store.share('orchestrator', 'c2', 2, { ttlMs: 1000 })
      expect(await store.sweep()).toEqual({ artifacts: 0, cacheEntries: 0 })
      await clock.advance(100)
      expect(await store.sweep()).toEqual({ artifacts: 2, cacheEntries: 1 })
      expect(await store.stats()).toEqual({ artifacts: 1, versions: 1, blobs: 1, blobBytes: 1, cacheEntries: 1 })
      expect(await store.getShared('orchestrator', 'c2')).toBe(2)
      expect((await store.get('orchestrator', 'z')).version).toBe(1)
    })
  })

  describe('shared cache', () => {
    it('shares a JSON value for ttlMs, replacing it on a new share, and returns copies', async () => {
      await store.share('orchestrator', 'search:cats', { hits: [1, 2] }, { ttlMs: 100 })
      const got = (await store.getShared('reader', 'search:cats')) as { hits: number[] }
      expect(got).toEqual({ hits: [1, 2] })
      got.hits.push(3)
      expect(await store.getShared('reader', 'search:cats')).toEqual({ hits: [1, 2] })
      await clock.advance(50)
      await store.share('orchestrator', 'search:cats', null, { ttlMs: 100 })
      await clock.advance(99)
      expect(await store.getShared('orchestrator', 'search:cats')).toBeNull()
      await clock.advance(1)
      expect(await store.getShared('orchestrator', 'search:cats')).toBeUndefined()
      expect(await store.getShared('orchestrator', 'never')).toBeUndefined()
      expect(await store.stats()).toMatchObject({ cacheEntries: 0 })
    })

    it('checks cache:<key> read and write, and refuses a missing ttl or a value that is not JSON', async () => {
      const cache = store.cacheAs('writer')
      await cache.share('docs:x', 'ok', { ttlMs: 10 })
      expect(await cache.get('docs:x')).toBe('ok')
      await expect(cache.share('other', 1, { ttlMs: 10 })).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
        details: { agent: 'writer', resource: 'cache:other', action: 'write' },
      })
      await expect(store.getShared('nobody', 'docs:x')).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
        details: { action: 'read' },
      })
      await expect(store.share('orchestrator', 'k', 1, { ttlMs: 0 })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'ttlMs' },
      })
      await expect(store.share('orchestrator', 'k', 1, {} as { ttlMs: number })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'ttlMs' },
      })
      await expect(store.share('orchestrator', 'k', { f: () => 1 }, { ttlMs: 10 })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { path: 'value.f' },
      })
      await expect(store.share('orchestrator', 'bad key', 1, { ttlMs: 10 })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'key' },
      })
      expect(await store.stats()).toMatchObject({ cacheEntries: 1 })
    })
  })
}
