import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../core/fake-clock.js'
import type { ContextBackend } from '../context/backend.js'
import { ContextStore, type ContextStoreOptions } from '../context/context-store.js'
import { PermissionSet } from '../security/permissions.js'

/** How a ContextBackend adapter is made and torn down for the contract suite. */
export interface ContextContractInit {
  name: string
  create(): Promise<ContextBackend>
  destroy?(backend: ContextBackend): Promise<void>
}

const T0 = Date.UTC(2026, 0, 1)
const sha = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex')

/** Resolves `principal` to its grants: orchestrator is unrestricted, unknown principals hold nothing. */
const GRANTS: Record<string, PermissionSet> = {
  reader: new PermissionSet([
    { resource: 'artifact:**', actions: ['read'] },
    { resource: 'cache:**', actions: ['read'] },
  ]),
  writer: new PermissionSet([
    { resource: 'artifact:docs/**', actions: ['read', 'write'] },
    { resource: 'cache:docs:*', actions: ['read', 'write'] },
  ]),
  janitor: new PermissionSet([{ resource: 'artifact:**', actions: ['delete'] }]),
}
const permissionsOf = (who: string): PermissionSet | undefined =>
  who === 'orchestrator' ? undefined : (GRANTS[who] ?? new PermissionSet([]))

/**
 * The contract every {@link ContextBackend} adapter passes under the one
 * {@link ContextStore} (memory, SQLite, PostgreSQL): versions and lineage,
 * optimistic concurrency, content stored once, TTL on a fake clock,
 * permissions, the cache, and error codes with the store left unchanged.
 */
export function contextContract(init: ContextContractInit): void {
  describe(`ContextStore contract: ${init.name}`, () => {
    let backend: ContextBackend
    let clock: FakeClock
    let store: ContextStore
    /** Another store on the same backend, with other options. */
    const withOptions = (o: ContextStoreOptions): ContextStore =>
      new ContextStore(backend, { clock, permissionsOf, ...o })

    beforeEach(async () => {
      backend = await init.create()
      clock = new FakeClock()
      store = withOptions({ keepVersions: 3 })
    })

    afterEach(async () => {
      if (init.destroy) await init.destroy(backend)
      else await backend.close()
    })

    describe('versions and lineage', () => {
      it('stores JSON content as version 1 with its lineage, hash and size, and reads it back as a fresh copy', async () => {
        const content = {
          title: 'Report',
          items: [1, 'two', { three: null, ok: true }],
          nested: { 'key with space': 'é 🚀 \u0000' },
        }
        const text = JSON.stringify(content)
        const written = await store.put('orchestrator', 'docs/report', content, {
          metadata: { source: 'crawler', n: 2 },
          tags: ['draft', 'lang:en'],
          runId: 'run_1',
          taskId: 'write',
        })
        const expected = {
          id: 'docs/report',
          version: 1,
          encoding: 'json',
          contentHash: sha(text),
          size: Buffer.byteLength(text),
          metadata: { source: 'crawler', n: 2 },
          tags: ['draft', 'lang:en'],
          createdBy: 'orchestrator',
          createdAt: T0,
          basedOn: null,
          runId: 'run_1',
          taskId: 'write',
          expiresAt: null,
          content,
        }
        expect(written).toEqual(expected)
        const read = await store.get('reader', 'docs/report')
        expect(read).toEqual(expected)
        ;(read.content as { items: unknown[] }).items.push('changed')
        expect((await store.get('reader', 'docs/report')).content).toEqual(content)
      })

      it('stores bytes (Uint8Array or Buffer) as bytes and returns a Uint8Array', async () => {
        const bytes = new Uint8Array([0, 1, 2, 255, 128, 0])
        const v1 = await store.put('orchestrator', 'bin', bytes)
        expect(v1).toMatchObject({ encoding: 'bytes', size: 6, contentHash: sha(bytes) })
        bytes[0] = 9 // the store keeps its own copy
        const read = await store.get('orchestrator', 'bin')
        expect(read.content).toBeInstanceOf(Uint8Array)
        expect([...(read.content as Uint8Array)]).toEqual([0, 1, 2, 255, 128, 0])
        await store.put('orchestrator', 'bin', Buffer.from('hello'))
        expect(Buffer.from((await store.get('orchestrator', 'bin')).content as Uint8Array).toString()).toBe('hello')
        await store.put('orchestrator', 'empty', new Uint8Array(0))
        expect((await store.get('orchestrator', 'empty')).content).toEqual(new Uint8Array(0))
      })

      it('makes a new version per write, each based on the one before, with who, when, run and task', async () => {
        await store.put('orchestrator', 'docs/a', 'one', { runId: 'run_1', taskId: 't1' })
        await clock.advance(10)
        await store.put('writer', 'docs/a', 'two', { basedOn: 1 })
        await clock.advance(10)
        const v3 = await store.put('writer', 'docs/a', 'three', { runId: 'run_2' })
        expect(v3).toMatchObject({
          version: 3,
          basedOn: 2,
          createdBy: 'writer',
          createdAt: T0 + 20,
          runId: 'run_2',
          taskId: null,
        })
        const history = await store.history('reader', 'docs/a')
        expect(history.map((v) => [v.version, v.basedOn, v.createdBy, v.createdAt, v.runId, v.taskId])).toEqual([
          [1, null, 'orchestrator', T0, 'run_1', 't1'],
          [2, 1, 'writer', T0 + 10, null, null],
          [3, 2, 'writer', T0 + 20, 'run_2', null],
        ])
        expect(history.every((v) => !('content' in v))).toBe(true)
        expect((await store.get('reader', 'docs/a', { version: 2 })).content).toBe('two')
        expect((await store.get('reader', 'docs/a')).content).toBe('three')
      })

      it('keeps the last keepVersions versions and answers ARTIFACT_NOT_FOUND for dropped ones and unknown ids', async () => {
        for (let i = 1; i <= 5; i++) await store.put('orchestrator', 'k', { i })
        expect((await store.history('orchestrator', 'k')).map((v) => v.version)).toEqual([3, 4, 5])
        await expect(store.get('orchestrator', 'k', { version: 2 })).rejects.toMatchObject({
          code: 'ARTIFACT_NOT_FOUND',
          details: { id: 'k', version: 2, latest: 5 },
        })
        await expect(store.get('orchestrator', 'k', { version: 6 })).rejects.toMatchObject({
          code: 'ARTIFACT_NOT_FOUND',
        })
        await expect(store.get('orchestrator', 'nope')).rejects.toMatchObject({
          code: 'ARTIFACT_NOT_FOUND',
          details: { id: 'nope' },
        })
        await expect(store.history('orchestrator', 'nope')).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' })
        expect(await store.stats()).toMatchObject({ artifacts: 1, versions: 3, blobs: 3 })
        // A store keeping one version prunes the rest on its next write.
        await withOptions({ keepVersions: 1 }).put('orchestrator', 'k', { i: 6 })
        expect((await store.history('orchestrator', 'k')).map((v) => v.version)).toEqual([6])
        expect(await store.stats()).toMatchObject({ versions: 1, blobs: 1 })
      })

      it('stores equal content once, shared by versions and artifacts, and removes blobs no version references', async () => {
        const big = { text: 'x'.repeat(1000) }
        const size = JSON.stringify(big).length
        await store.put('orchestrator', 'a', big)
        await store.put('orchestrator', 'b', big)
        await store.put('orchestrator', 'a', big)
        expect(await store.stats()).toEqual({ artifacts: 2, versions: 3, blobs: 1, blobBytes: size, cacheEntries: 0 })
        expect((await store.get('orchestrator', 'b')).contentHash).toBe(
          (await store.get('orchestrator', 'a')).contentHash,
        )
        await store.put('orchestrator', 'a', 'other')
        await store.put('orchestrator', 'a', 'other 2') // drops version 1 of a (keepVersions 3): the blob is still used
        expect(await store.stats()).toMatchObject({ versions: 4, blobs: 3 })
        expect(await store.delete('orchestrator', 'b')).toBe(true)
        await store.put('orchestrator', 'a', 'other 3') // drops the last version holding `big`
        expect(await store.stats()).toMatchObject({ artifacts: 1, versions: 3, blobs: 3, blobBytes: 7 + 9 + 9 })
        expect(await store.delete('orchestrator', 'a')).toBe(true)
        expect(await store.stats()).toEqual({ artifacts: 0, versions: 0, blobs: 0, blobBytes: 0, cacheEntries: 0 })
      })

      it('lists the latest versions by id, filtered by a tag of the latest version and by id prefix', async () => {
        await store.put('orchestrator', 'runs/10/b', 1, { tags: ['final'] })
        await store.put('orchestrator', 'runs/1/a', 1, { tags: ['draft'] })
        await store.put('orchestrator', 'runs/1/a', 2, { tags: ['final'] })
        await store.put('orchestrator', 'other', 1, { tags: ['draft'] })
        const list = await store.list('orchestrator')
        expect(list.map((a) => [a.id, a.version])).toEqual([
          ['other', 1],
          ['runs/1/a', 2],
          ['runs/10/b', 1],
        ])
        expect(list.every((a) => !('content' in a))).toBe(true)
        expect((await store.list('orchestrator', { tag: 'final' })).map((a) => a.id)).toEqual(['runs/1/a', 'runs/10/b'])
        expect((await store.list('orchestrator', { tag: 'draft' })).map((a) => a.id)).toEqual(['other'])
        expect((await store.list('orchestrator', { prefix: 'runs/1/' })).map((a) => a.id)).toEqual(['runs/1/a'])
        expect((await store.list('orchestrator', { prefix: 'runs/1', tag: 'final' })).map((a) => a.id)).toEqual([
          'runs/1/a',
          'runs/10/b',
        ])
        expect(await store.list('orchestrator', { prefix: 'zzz' })).toEqual([])
      })

      it('deletes an artifact with all its versions, answering false when there is none', async () => {
        await store.put('orchestrator', 'gone', 1)
        await store.put('orchestrator', 'gone', 2)
        expect(await store.delete('janitor', 'gone')).toBe(true)
        expect(await store.delete('janitor', 'gone')).toBe(false)
        await expect(store.get('orchestrator', 'gone')).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' })
        const again = await store.put('orchestrator', 'gone', 3, { basedOn: null })
        expect(again).toMatchObject({ version: 1, basedOn: null })
      })
    })

    describe('optimistic concurrency', () => {
      it('refuses a write based on a version that is not the latest with ARTIFACT_CONFLICT, changing nothing', async () => {
        await store.put('orchestrator', 'doc', 'v1')
        await store.put('orchestrator', 'doc', 'v2', { basedOn: 1 })
        const before = await store.stats()
        const err = await store.put('orchestrator', 'doc', 'stale', { basedOn: 1 }).catch((e: unknown) => e)
        expect(err).toMatchObject({ code: 'ARTIFACT_CONFLICT', details: { id: 'doc', basedOn: 1, latest: 2 } })
        expect((err as Error).message).toMatch(/Read it again/)
        await expect(store.put('orchestrator', 'doc', 'ahead', { basedOn: 3 })).rejects.toMatchObject({
          code: 'ARTIFACT_CONFLICT',
          details: { latest: 2 },
        })
        expect((await store.get('orchestrator', 'doc')).content).toBe('v2')
        expect(await store.stats()).toEqual(before)
      })

      it('creates with basedOn null only when the artifact does not exist; a numbered basedOn needs an existing one', async () => {
        expect(await store.put('orchestrator', 'new', 1, { basedOn: null })).toMatchObject({
          version: 1,
          basedOn: null,
        })
        await expect(store.put('orchestrator', 'new', 2, { basedOn: null })).rejects.toMatchObject({
          code: 'ARTIFACT_CONFLICT',
          details: { id: 'new', basedOn: null, latest: 1 },
        })
        await expect(store.put('orchestrator', 'missing', 1, { basedOn: 1 })).rejects.toMatchObject({
          code: 'ARTIFACT_CONFLICT',
          details: { id: 'missing', basedOn: 1, latest: null },
        })
        await expect(store.get('orchestrator', 'missing')).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' })
      })

      it('lets exactly one of several concurrent writers with the same basedOn win', async () => {
        await store.put('orchestrator', 'race', 0)
        const results = await Promise.allSettled(
          Array.from({ length: 6 }, (_, i) => store.put('orchestrator', 'race', i + 1, { basedOn: 1 })),
        )
        const won = results.filter((r) => r.status === 'fulfilled')
        expect(won).toHaveLength(1)
        for (const r of results)
          if (r.status === 'rejected')
            expect(r.reason).toMatchObject({ code: 'ARTIFACT_CONFLICT', details: { basedOn: 1, latest: 2 } })
        expect((await store.history('orchestrator', 'race')).map((v) => v.version)).toEqual([1, 2])
        const creators = await Promise.allSettled(
          Array.from({ length: 4 }, (_, i) => store.put('orchestrator', 'fresh', i, { basedOn: null })),
        )
        expect(creators.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      })

      it('gives concurrent unconditional writers consecutive versions, each based on the one before', async () => {
        const many = withOptions({ keepVersions: 20 })
        await Promise.all(Array.from({ length: 8 }, (_, i) => many.put('orchestrator', 'log', i)))
        const history = await many.history('orchestrator', 'log')
        expect(history.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
        expect(history.map((v) => v.basedOn)).toEqual([null, 1, 2, 3, 4, 5, 6, 7])
      })
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

    describe('permissions', () => {
      it('checks artifact:<id> read, write and delete, naming principal, resource and action', async () => {
        await store.put('writer', 'docs/plan', { step: 1 })
        await expect(store.put('writer', 'secret', 1)).rejects.toMatchObject({
          code: 'PERMISSION_DENIED',
          details: { agent: 'writer', resource: 'artifact:secret', action: 'write' },
        })
        await expect(store.put('reader', 'docs/plan', 2)).rejects.toMatchObject({
          code: 'PERMISSION_DENIED',
          details: { agent: 'reader', action: 'write' },
        })
        expect((await store.get('reader', 'docs/plan')).content).toEqual({ step: 1 })
        await expect(store.get('nobody', 'docs/plan')).rejects.toMatchObject({
          code: 'PERMISSION_DENIED',
          details: { agent: 'nobody', resource: 'artifact:docs/plan', action: 'read' },
        })
        await expect(store.history('nobody', 'docs/plan')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' })
        await expect(store.get('nobody', 'no/such')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' }) // no hint of what exists
        await expect(store.delete('writer', 'docs/plan')).rejects.toMatchObject({
          code: 'PERMISSION_DENIED',
          details: { action: 'delete' },
        })
        expect(await store.delete('janitor', 'docs/plan')).toBe(true)
        expect(await store.stats()).toMatchObject({ artifacts: 0 })
      })

      it('lists only the artifacts the principal may read', async () => {
        for (const id of ['docs/a', 'docs/b', 'private/c']) await store.put('orchestrator', id, id)
        expect((await store.list('writer')).map((a) => a.id)).toEqual(['docs/a', 'docs/b'])
        expect((await store.list('reader')).map((a) => a.id)).toEqual(['docs/a', 'docs/b', 'private/c'])
        expect(await store.list('nobody')).toEqual([])
      })

      it("records lineage through as(principal, lineage) and checks the principal's permissions there", async () => {
        const agent = store.as('writer', { runId: 'run_9', taskId: 'draft' })
        const v1 = await agent.put('docs/x', 'hello', { basedOn: null, tags: ['t'] })
        expect(v1).toMatchObject({ createdBy: 'writer', runId: 'run_9', taskId: 'draft', tags: ['t'] })
        await agent.put('docs/x', 'hello!', { basedOn: v1.version })
        expect((await agent.history('docs/x')).map((v) => [v.version, v.basedOn, v.runId])).toEqual([
          [1, null, 'run_9'],
          [2, 1, 'run_9'],
        ])
        expect((await agent.list({ tag: 't' })).map((a) => a.id)).toEqual([])
        expect((await agent.get('docs/x', { version: 1 })).content).toBe('hello')
        await expect(agent.put('elsewhere', 1)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' })
        await expect(agent.delete('docs/x')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' })
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

    describe('bad input', () => {
      it('refuses bad ids, content, options and oversized content with VALIDATION_FAILED, leaving the store unchanged', async () => {
        await store.put('orchestrator', 'doc', { v: 1 }, { tags: ['a'] })
        const before = { stats: await store.stats(), history: await store.history('orchestrator', 'doc') }
        const cyclic: Record<string, unknown> = { a: 1 }
        cyclic.self = cyclic
        const small = withOptions({ maxContentBytes: 16 })
        const attempts: [Promise<unknown>, Record<string, unknown>][] = [
          [store.put('orchestrator', 'bad id!', 1), { field: 'id' }],
          [store.put('orchestrator', '', 1), { field: 'id' }],
          [store.put('orchestrator', 'x'.repeat(201), 1), { field: 'id' }],
          [store.put('orchestrator', 'doc', { when: () => 1 }), { path: 'content.when' }],
          [store.put('orchestrator', 'doc', cyclic), { path: 'content.self' }],
          [store.put('orchestrator', 'doc', { n: 10n }), { path: 'content.n' }],
          [store.put('orchestrator', 'doc', [1, Number.NaN]), { path: 'content[1]' }],
          [store.put('orchestrator', 'doc', { at: new Date(0) }), { path: 'content.at' }],
          [store.put('orchestrator', 'doc', undefined), { path: 'content' }],
          [small.put('orchestrator', 'doc', 'x'.repeat(20)), { field: 'content', size: 22, limit: 16 }],
          [small.put('orchestrator', 'doc', new Uint8Array(17)), { field: 'content', size: 17 }],
          [store.put('orchestrator', 'doc', 1, { ttlMs: -1 }), { field: 'ttlMs' }],
          [store.put('orchestrator', 'doc', 1, { ttlMs: Number.POSITIVE_INFINITY }), { field: 'ttlMs' }],
          [store.put('orchestrator', 'doc', 1, { tags: ['has space'] }), { field: 'tags[0]' }],
          [store.put('orchestrator', 'doc', 1, { tags: 'a' as unknown as string[] }), { field: 'tags' }],
          [
            store.put('orchestrator', 'doc', 1, { metadata: [] as unknown as Record<string, unknown> }),
            { field: 'metadata' },
          ],
          [store.put('orchestrator', 'doc', 1, { metadata: { f: Symbol('s') } }), { path: 'metadata.f' }],
          [store.put('orchestrator', 'doc', 1, { basedOn: 0 }), { field: 'basedOn' }],
          [store.put('orchestrator', 'doc', 1, { basedOn: 1.5 }), { field: 'basedOn' }],
          [store.put('orchestrator', 'doc', 1, { bsaedOn: 1 } as never), { field: 'bsaedOn' }],
          [store.put('', 'doc', 1), { field: 'principal' }],
          [store.get('orchestrator', 'doc', { version: 0 }), { field: 'version' }],
          [store.list('orchestrator', { prefix: 'a b' }), { field: 'prefix' }],
        ]
        for (const [attempt, details] of attempts) {
          const err = await attempt.catch((e: unknown) => e)
          expect(err, JSON.stringify(details)).toMatchObject({ code: 'VALIDATION_FAILED', details })
          expect((err as Error).message.length).toBeGreaterThan(20)
        }
        expect(await store.stats()).toEqual(before.stats)
        expect(await store.history('orchestrator', 'doc')).toEqual(before.history)
      })

      it('fails with STORE_UNAVAILABLE once the backend is closed', async () => {
        await store.put('orchestrator', 'doc', 1)
        await store.close()
        await expect(store.get('orchestrator', 'doc')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.put('orchestrator', 'doc', 2)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
      })
    })
  })
}
