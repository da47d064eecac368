import { afterEach, describe, expect, it } from 'vitest'
import { ContextStore } from '../../src/context/context-store.js'
import { openContextStore } from '../../src/context/open-context-store.js'
import { PostgresContextBackend } from '../../src/context/postgres/postgres-context-backend.js'
import { newRunId } from '../../src/core/ids.js'
import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { contextContract } from '../../src/testing/context-contract.js'
import {
  describePostgres,
  dropSchema,
  freshSchema,
  POSTGRES_URL,
  withClient,
  withFreshSchema,
} from '../helpers/postgres.js'

await describePostgres('PostgresContextBackend', () => {
  contextContract({
    name: 'postgres',
    create: () => PostgresContextBackend.connect(POSTGRES_URL, { schema: freshSchema(), poolSize: 4 }),
    destroy: async (backend) => {
      await backend.close()
      await dropSchema((backend as PostgresContextBackend).schema)
    },
  })

  describe('PostgreSQL specifics', () => {
    const cleanup: (() => Promise<unknown>)[] = []
    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn()
    })
    const connect = async (schema = freshSchema()): Promise<PostgresContextBackend> => {
      const backend = await PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 4 })
      cleanup.push(
        () => dropSchema(schema),
        () => backend.close(),
      )
      return backend
    }
    const tables = async (schema: string): Promise<string[]> =>
      withClient(async (c) =>
        (
          await c.query<{ t: string }>(
            `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
            [schema],
          )
        ).rows.map((r) => r.t),
      )

    it('shares the schema of the Flotilla store, in tables prefixed flotilla_ctx_, whichever connects first', async () => {
      const backend = await connect()
      await new ContextStore(backend).put('orchestrator', 'a', 1)
      const store = await PostgresStore.connect(POSTGRES_URL, { schema: backend.schema })
      cleanup.push(() => store.close())
      expect(await store.getRun(newRunId())).toBeUndefined()
      const names = await tables(backend.schema)
      expect(names.filter((t) => t.startsWith('flotilla_ctx_'))).toEqual([
        'flotilla_ctx_artifacts',
        'flotilla_ctx_blobs',
        'flotilla_ctx_cache',
        'flotilla_ctx_versions',
      ])
      expect(names).toContain('runs')
      // Reconnecting creates nothing twice; a store made first takes the context tables too.
      const again = await PostgresContextBackend.connect(POSTGRES_URL, { schema: backend.schema })
      cleanup.push(() => again.close())
      expect((await new ContextStore(again).get('orchestrator', 'a')).content).toBe(1)
      const schema = freshSchema()
      cleanup.push(() => dropSchema(schema))
      const first = await PostgresStore.connect(POSTGRES_URL, { schema })
      cleanup.push(() => first.close())
      const late = await connect(schema)
      expect((await new ContextStore(late).put('orchestrator', 'b', 2)).version).toBe(1)
    })

    it('connects in parallel to a new schema without failing (tables are created under a lock)', async () => {
      const schema = freshSchema()
      cleanup.push(() => dropSchema(schema))
      const backends = await Promise.all(
        [1, 2, 3].map(() => PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 1 })),
      )
      for (const b of backends) cleanup.push(() => b.close())
      expect((await tables(schema)).filter((t) => t.startsWith('flotilla_ctx_'))).toHaveLength(4)
    })

    it('refuses a schema of something else (STORE_NOT_FLOTILLA), a bad option (VALIDATION_FAILED) and a bad URL (STORE_URL_INVALID)', async () => {
      const schema = freshSchema()
      cleanup.push(() => dropSchema(schema))
      await withClient((c) => c.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".invoices (id int)`))
      await expect(PostgresContextBackend.connect(POSTGRES_URL, { schema })).rejects.toMatchObject({
        code: 'STORE_NOT_FLOTILLA',
      })
      expect(await tables(schema)).toEqual(['invoices'])
      await expect(PostgresContextBackend.connect(POSTGRES_URL, { schema: 'bad-name' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      })
      await expect(PostgresContextBackend.connect('mysql://x@y/z')).rejects.toMatchObject({ code: 'STORE_URL_INVALID' })
    })

    it('keeps blob reference counts exact under concurrent writes, deletes and sweeps from two stores', async () => {
      const backend = await connect()
      const other = await PostgresContextBackend.connect(POSTGRES_URL, { schema: backend.schema, poolSize: 4 })
      cleanup.push(() => other.close())
      const stores = [new ContextStore(backend, { keepVersions: 2 }), new ContextStore(other, { keepVersions: 2 })]
      const contents = ['x', 'y', { z: 1 }, new Uint8Array([1])]
      const ops: Promise<unknown>[] = []
      for (let i = 0; i < 150; i++) {
        const s = stores[i % 2]
        const id = `a${i % 7}`
        if (i % 11 === 0) ops.push(s.delete('o', id))
        else if (i % 13 === 0) ops.push(s.sweep())
        else ops.push(s.put('o', id, contents[(i * 3) % 4], i % 5 === 0 ? { ttlMs: 1 } : {}))
      }
      const failures = (await Promise.allSettled(ops)).filter((r) => r.status === 'rejected')
      expect(failures).toEqual([])
      const blobs = await withClient(
        async (c) =>
          (
            await c.query<{ refs: number; n: number }>(
              `SELECT b.refs, (SELECT count(*)::int FROM "${backend.schema}".flotilla_ctx_versions v WHERE v.content_hash = b.hash) AS n FROM "${backend.schema}".flotilla_ctx_blobs b`,
            )
          ).rows,
      )
      expect(blobs.length).toBeGreaterThan(0)
      for (const b of blobs) expect(b.refs).toBe(b.n)
      expect(blobs.every((b) => b.n > 0)).toBe(true)
      const dangling = await withClient(
        async (c) =>
          (
            await c.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM "${backend.schema}".flotilla_ctx_versions v LEFT JOIN "${backend.schema}".flotilla_ctx_blobs b ON b.hash = v.content_hash WHERE b.hash IS NULL`,
            )
          ).rows[0].n,
      )
      expect(dangling).toBe(0)
    })

    it('opens through openContextStore with a postgres:// URL whose schema comes from ?schema=', async () => {
      await withFreshSchema(async (url) => {
        const store = await openContextStore({ url, keepVersions: 2 })
        try {
          expect(store.backend.kind).toBe('postgres')
          for (let i = 0; i < 3; i++) await store.put('orchestrator', 'doc', i)
          expect((await store.history('orchestrator', 'doc')).map((v) => v.version)).toEqual([2, 3])
        } finally {
          await store.close()
        }
      })
    })
  })
})
