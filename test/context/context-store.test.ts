import { describe, expect, expectTypeOf, it } from 'vitest'
import type { AgentArtifacts, AgentCache } from '../../src/agents/context.js'
import { ContextStore } from '../../src/context/context-store.js'
import { decodeContent, encodeContent, encodeJsonText } from '../../src/context/encode.js'
import { MemoryContextBackend } from '../../src/context/memory/memory-context-backend.js'
import type { ArtifactAccess, CacheAccess } from '../../src/context/types.js'
import type { VersionWrite } from '../../src/context/backend.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import { PermissionSet } from '../../src/security/permissions.js'

const memory = (o: ConstructorParameters<typeof ContextStore>[1] = {}): ContextStore =>
  new ContextStore(new MemoryContextBackend(), { clock: new FakeClock(), ...o })

describe('ContextStore', () => {
  it("serves views shaped like the agent context's AgentArtifacts and AgentCache", async () => {
    const store = memory()
    const artifacts: AgentArtifacts = store.as('agent', { runId: 'run_1', taskId: 'a' })
    const cache: AgentCache = store.cacheAs('agent')
    expectTypeOf<ArtifactAccess>().toExtend<AgentArtifacts>()
    expectTypeOf<CacheAccess>().toExtend<AgentCache>()
    const v = await artifacts.put('x', { ok: true }, { tags: ['t'], ttlMs: 1000, basedOn: null, metadata: { m: 1 } })
    expect(v).toMatchObject({ version: 1, runId: 'run_1', taskId: 'a', createdBy: 'agent' })
    await cache.share('k', [1], { ttlMs: 5 })
    expect(await cache.get('k')).toEqual([1])
    expect(() => store.as('')).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field: 'principal' } }),
    )
  })

  it('keeps 10 versions and allows 10 MiB by default', async () => {
    const store = memory()
    expect([store.keepVersions, store.maxContentBytes]).toEqual([10, 10 * 1024 * 1024])
    for (let i = 1; i <= 12; i++) await store.put('o', 'doc', i)
    expect((await store.history('o', 'doc')).map((v) => v.version)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    await expect(store.put('o', 'big', new Uint8Array(10 * 1024 * 1024 + 1))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { limit: 10 * 1024 * 1024 },
    })
    expect((await store.put('o', 'big', new Uint8Array(10 * 1024 * 1024))).size).toBe(10 * 1024 * 1024)
  })

  it.each([
    ['keepVersions', { keepVersions: 0 }],
    ['keepVersions', { keepVersions: 1.5 }],
    ['maxContentBytes', { maxContentBytes: 0 }],
    ['clock', { clock: {} as FakeClock }],
    ['permissionsOf', { permissionsOf: 'all' as never }],
  ])('refuses a bad option %s with VALIDATION_FAILED', (field, options) => {
    expect(() => new ContextStore(new MemoryContextBackend(), options)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field } }),
    )
  })

  it('checks the permissions of the resolver, and treats a principal it resolves to undefined as unrestricted', async () => {
    const asked: string[] = []
    const store = memory({
      permissionsOf: (who) => {
        asked.push(who)
        return who === 'root' ? undefined : new PermissionSet([{ resource: 'artifact:pub/*', actions: ['read'] }])
      },
    })
    await store.put('root', 'pub/a', 1)
    await store.put('root', 'priv/b', 1)
    const err = await store.get('guest', 'priv/b').catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PERMISSION_DENIED' })
    expect((err as Error).message).toMatch(/guest may not read "artifact:priv\/b"/)
    expect((await store.get('guest', 'pub/a')).content).toBe(1)
    expect(asked).toContain('guest')
  })

  it('returns frozen metadata and tags, and de-duplicates tags', async () => {
    const store = memory()
    const meta = { nested: { list: [1] } }
    const v = await store.put('o', 'doc', 1, { metadata: meta, tags: ['a', 'b', 'a'] })
    meta.nested.list.push(2) // the store copied it
    const read = await store.get('o', 'doc')
    expect(read.tags).toEqual(['a', 'b'])
    expect(read.metadata).toEqual({ nested: { list: [1] } })
    expect(
      Object.isFrozen(v.metadata) &&
        Object.isFrozen((read.metadata.nested as { list: number[] }).list) &&
        Object.isFrozen(read.tags),
    ).toBe(true)
  })

  it('refuses too many tags, too much metadata and bad lineage', async () => {
    const store = memory()
    const tags = Array.from({ length: 33 }, (_, i) => `t${i}`)
    await expect(store.put('o', 'd', 1, { tags })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'tags' },
    })
    await expect(store.put('o', 'd', 1, { metadata: { blob: 'x'.repeat(70_000) } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'metadata' },
    })
    await expect(store.put('o', 'd', 1, { runId: '' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'runId' },
    })
    await expect(store.put('o', 'd', 1, { taskId: 7 as unknown as string })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'taskId' },
    })
    await expect(store.put('x'.repeat(201), 'd', 1)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'principal' },
    })
    await expect(store.list('o', { tag: '' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'tag' },
    })
    expect(await store.stats()).toMatchObject({ artifacts: 0 })
  })

  it('gives up with a retryable STORE_UNAVAILABLE when the head keeps moving under an unconditional write', async () => {
    let writes = 0
    class Busy extends MemoryContextBackend {
      override async write(_w: VersionWrite): Promise<boolean> {
        writes++
        return false
      }
    }
    const store = new ContextStore(new Busy())
    await expect(store.put('o', 'hot', 1)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      retryable: true,
      details: { id: 'hot', attempts: 50 },
    })
    expect(writes).toBe(50)
  })
})

describe('content encoding', () => {
  it('accepts plain JSON data, null-prototype objects and shared (acyclic) references, leaving out undefined keys', () => {
    const shared = { s: 1 }
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 })
    expect(encodeJsonText({ x: shared, y: shared, z: undefined, bare, list: [true, null, -1.5, 'é'] }, 'content')).toBe(
      '{"x":{"s":1},"y":{"s":1},"bare":{"a":1},"list":[true,null,-1.5,"é"]}',
    )
  })

  it.each([
    ['a Map', { m: new Map() }, 'content.m', /Map object.*Object\.fromEntries/],
    [
      'a class instance',
      {
        c: new (class Point {
          x = 1
        })(),
      },
      'content.c',
      /Point object/,
    ],
    ['nested bytes', { b: new Uint8Array(2) }, 'content.b', /bytes can only be the whole content/],
    ['a symbol', [Symbol('s')], 'content[0]', /symbol/],
    ['undefined in a list', [undefined], 'content[0]', /use null/],
    ['Infinity', { n: Number.POSITIVE_INFINITY }, 'content.n', /finite/],
    ['a BigInt', 1n, 'content', /String\(n\)/],
    ['an odd key', { 'a b': () => 1 }, 'content["a b"]', /function/],
  ])('refuses %s, naming its path and how to fix it', (_label, value, path, message) => {
    let err: unknown
    try {
      encodeContent(value, 1000)
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'content', path } })
    expect((err as Error).message).toMatch(message)
  })

  it('refuses nesting deeper than 1000 levels and typed arrays other than Uint8Array', () => {
    let deep: unknown = 1
    for (let i = 0; i < 1001; i++) deep = [deep]
    expect(() => encodeContent(deep, 1e9)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/deeper than 1000/) }),
    )
    expect(() => encodeContent(new Uint16Array(2), 100)).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/Uint8Array/) }),
    )
    expect(() => encodeContent(new ArrayBuffer(2), 100)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
  })

  it('round-trips JSON and bytes, returning fresh copies', () => {
    const json = encodeContent({ a: [1] }, 100)
    const a = decodeContent(json.encoding, json.bytes) as { a: number[] }
    a.a.push(2)
    expect(decodeContent(json.encoding, json.bytes)).toEqual({ a: [1] })
    const bin = encodeContent(Buffer.from([5, 6]), 100)
    expect(bin).toMatchObject({ encoding: 'bytes', hash: encodeContent(new Uint8Array([5, 6]), 100).hash })
    const out = decodeContent('bytes', bin.bytes) as Uint8Array
    out[0] = 0
    expect([...(decodeContent('bytes', bin.bytes) as Uint8Array)]).toEqual([5, 6])
  })
})
