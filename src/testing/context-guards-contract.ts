// The guards part of the context contract: what the store refuses (no
// permission, bad input, a closed backend), leaving its content unchanged.
import { beforeEach, describe, expect, it } from 'vitest'
import type { ContextStore } from '../context/context-store.js'
import type { ContextUnderTest } from './context-fixtures.js'

/**
 * The guards part of the context contract: `artifact:<id>` permissions
 * (also through `as(principal, lineage)`), VALIDATION_FAILED for bad input
 * with the store left unchanged, and STORE_UNAVAILABLE once closed. Run by
 * `contextContract` on the store `get()` returns.
 */
export function contextGuardsContract(get: () => ContextUnderTest): void {
  let store: ContextStore
  let withOptions: ContextUnderTest['withOptions']
  beforeEach(() => {
    ;({ store, withOptions } = get())
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
}
