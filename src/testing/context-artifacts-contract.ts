// The artifacts part of the context contract: versions, lineage, content stored
// once, listing, deletion, and optimistic concurrency between writers.
import { createHash } from 'node:crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import type { ContextStore } from '../context/context-store.js'
import type { FakeClock } from '../core/fake-clock.js'
import { type ContextUnderTest, T0 } from './context-fixtures.js'

const sha = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex')

/**
 * The artifacts part of the context contract: versions and their lineage,
 * pruning to `keepVersions`, equal content stored once, list and delete, and
 * optimistic concurrency (`basedOn`) between concurrent writers. Run by
 * `contextContract` on the store `get()` returns.
 */
export function contextArtifactsContract(get: () => ContextUnderTest): void {
  let store: ContextStore
  let clock: FakeClock
  let withOptions: ContextUnderTest['withOptions']
  beforeEach(() => {
    ;({ store, clock, withOptions } = get())
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
}
