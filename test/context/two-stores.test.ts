import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ContextBackend } from '../../src/context/backend.js'
import { ContextStore } from '../../src/context/context-store.js'
import { PostgresContextBackend } from '../../src/context/postgres/postgres-context-backend.js'
import { SqliteContextBackend } from '../../src/context/sqlite/sqlite-context-backend.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { describePostgres, dropSchema, freshSchema, POSTGRES_URL } from '../helpers/postgres.js'

/** Two stores on one database (as two processes would hold): they see each other's versions and conflict correctly. */
function twoStores(name: string, open: () => Promise<[ContextBackend, ContextBackend, () => Promise<void>]>): void {
  describe(`two ContextStores on one ${name} database`, () => {
    let done: (() => Promise<void>) | undefined
    afterEach(async () => {
      await done?.()
      done = undefined
    })
    const pair = async (): Promise<[ContextStore, ContextStore]> => {
      const [a, b, cleanup] = await open()
      done = async () => {
        await a.close()
        await b.close()
        await cleanup()
      }
      return [new ContextStore(a, { keepVersions: 100 }), new ContextStore(b, { keepVersions: 100 })]
    }

    it("see each other's versions, and a stale write is refused until it re-reads", async () => {
      const [one, two] = await pair()
      await one.put('planner', 'plan', { steps: ['a'] }, { basedOn: null })
      const seen = await two.get('editor', 'plan')
      expect(seen).toMatchObject({ version: 1, createdBy: 'planner', content: { steps: ['a'] } })
      await two.put('editor', 'plan', { steps: ['a', 'b'] }, { basedOn: seen.version })
      const stale = await one.put('planner', 'plan', { steps: ['a', 'c'] }, { basedOn: 1 }).catch((e: unknown) => e)
      expect(stale).toMatchObject({ code: 'ARTIFACT_CONFLICT', details: { id: 'plan', basedOn: 1, latest: 2 } })
      // The documented way out: read again, reapply, write based on what was read.
      const fresh = await one.get('planner', 'plan')
      const merged = await one.put(
        'planner',
        'plan',
        { steps: [...(fresh.content as { steps: string[] }).steps, 'c'] },
        { basedOn: fresh.version },
      )
      expect(merged).toMatchObject({ version: 3, basedOn: 2 })
      expect((await two.history('editor', 'plan')).map((v) => [v.version, v.createdBy])).toEqual([
        [1, 'planner'],
        [2, 'editor'],
        [3, 'planner'],
      ])
      await expect(two.put('editor', 'plan', 'x', { basedOn: null })).rejects.toMatchObject({
        code: 'ARTIFACT_CONFLICT',
        details: { latest: 3 },
      })
      await two.share('editor', 'hint', 'use b', { ttlMs: 60_000 })
      expect(await one.getShared('planner', 'hint')).toBe('use b')
      expect(await one.delete('planner', 'plan')).toBe(true)
      await expect(two.get('editor', 'plan')).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' })
    })

    it('let exactly one of many concurrent writers from both stores win a basedOn, and number unconditional writes without gaps', async () => {
      const [one, two] = await pair()
      await one.put('w', 'race', 0)
      const attempts = Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? one : two).put(`w${i}`, 'race', i, { basedOn: 1 }),
      )
      const results = await Promise.allSettled(attempts)
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      for (const r of results) {
        if (r.status === 'rejected') expect(isFlotillaError(r.reason) && r.reason.code).toBe('ARTIFACT_CONFLICT')
      }
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).put('w', 'log', i)))
      const history = await two.history('w', 'log')
      expect(history.map((v) => v.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      expect(history.map((v) => v.basedOn)).toEqual([null, ...Array.from({ length: 19 }, (_, i) => i + 1)])
      // Equal content written through both stores is stored once.
      await one.put('w', 'same-1', { big: 'y'.repeat(500) })
      await two.put('w', 'same-2', { big: 'y'.repeat(500) })
      expect((await one.stats()).blobs).toBe((await two.stats()).blobs)
      expect((await one.get('w', 'same-1')).contentHash).toBe((await two.get('w', 'same-2')).contentHash)
    })
  })
}

twoStores('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-ctx-two-'))
  const path = join(dir, 'flotilla.db')
  return [
    SqliteContextBackend.open({ path }),
    SqliteContextBackend.open({ path }),
    async () => rmSync(dir, { recursive: true, force: true }),
  ]
})

await describePostgres('two PostgreSQL context stores', () => {
  twoStores('PostgreSQL', async () => {
    const schema = freshSchema()
    const a = await PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 6 })
    const b = await PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 6 })
    return [a, b, () => dropSchema(schema)]
  })
})
