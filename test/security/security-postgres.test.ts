import { afterEach, describe, expect, it } from 'vitest'
import { AuditLog } from '../../src/security/audit.js'
import { PostgresAuditLogStore } from '../../src/security/postgres/postgres-audit-log.js'
import { PostgresSecurityStore } from '../../src/security/postgres/postgres-security-store.js'
import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { auditLogContract, securityStoreContract } from '../../src/testing/security-contract.js'
import { describePostgres, dropSchema, freshSchema, POSTGRES_URL, withClient } from '../helpers/postgres.js'
import { auditTamperSuite } from './audit-tamper.js'

await describePostgres('PostgreSQL security adapters', () => {
  securityStoreContract({
    name: 'postgres',
    create: () => PostgresSecurityStore.connect(POSTGRES_URL, { schema: freshSchema(), poolSize: 2 }),
    destroy: async (store) => {
      await (store as PostgresSecurityStore).close()
      await dropSchema((store as PostgresSecurityStore).schema)
    },
  })

  // Two handles in one test are two pools on one schema, as two server processes would open it.
  let shared: string | undefined
  auditLogContract({
    name: 'postgres (two pools on one schema)',
    create: () => PostgresAuditLogStore.connect(POSTGRES_URL, { schema: (shared ??= freshSchema()), poolSize: 4 }),
    destroy: async (log) => {
      await (log as PostgresAuditLogStore).close()
      await dropSchema((log as PostgresAuditLogStore).schema)
      shared = undefined
    },
  })

  auditTamperSuite('postgres', async () => {
    const schema = freshSchema()
    const store = await PostgresAuditLogStore.connect(POSTGRES_URL, { schema, poolSize: 2 })
    return {
      store,
      table: `"${schema}".flotilla_audit`,
      sql: async (text, values = []) => {
        let n = 0
        await withClient((c) =>
          c.query(
            text.replace(/\?/g, () => `$${++n}`),
            [...values],
          ),
        )
      },
      close: async () => {
        await store.close()
        await dropSchema(schema)
      },
    }
  })

  describe('PostgreSQL specifics', () => {
    const cleanup: (() => Promise<unknown>)[] = []
    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn()
    })
    const schemaForTest = (): string => {
      const schema = freshSchema()
      cleanup.push(() => dropSchema(schema))
      return schema
    }
    const log = async (schema: string, poolSize = 4): Promise<PostgresAuditLogStore> => {
      const store = await PostgresAuditLogStore.connect(POSTGRES_URL, { schema, poolSize })
      cleanup.push(() => store.close())
      return store
    }

    it('keep one chain when three pools append at once: seq 1..n without gaps, verify ok', async () => {
      const schema = schemaForTest()
      const logs = await Promise.all([1, 2, 3].map(() => log(schema)))
      const writers = logs.map((l, w) => ({ audit: new AuditLog(l), actor: `p${w}` }))
      // Each writer appends 30 entries, 4 at a time, all writers at once.
      await Promise.all(
        writers.flatMap(({ audit, actor }) =>
          [0, 1, 2, 3].map(async (lane) => {
            for (let i = lane; i < 30; i += 4)
              await audit.record({ actor, action: 'test.append', resource: `n:${i}`, outcome: 'succeeded' })
          }),
        ),
      )
      const audit = writers[0].audit
      const all = await audit.query({ limit: 1000 })
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1))
      for (const { actor } of writers) expect(all.filter((e) => e.actor === actor)).toHaveLength(30)
      expect(await audit.verify()).toMatchObject({ ok: true, checked: 90 })
    })

    it('live in the schema of the store, the security domain recorded once, whichever connects first', async () => {
      const schema = schemaForTest()
      const keys = await PostgresSecurityStore.connect(POSTGRES_URL, { schema, poolSize: 1 })
      cleanup.push(() => keys.close())
      const store = await PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 1 })
      cleanup.push(() => store.close())
      await log(schema, 1)
      const { tables, ledger } = await withClient(async (c) => ({
        tables: (
          await c.query<{ t: string }>(
            `SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 AND tablename IN ('flotilla_api_keys', 'flotilla_blocks', 'flotilla_audit', 'runs') ORDER BY 1`,
            [schema],
          )
        ).rows.map((r) => r.t),
        ledger: (
          await c.query(`SELECT domain, version, name FROM "${schema}".flotilla_migrations WHERE domain = 'security'`)
        ).rows,
      }))
      expect(tables).toEqual(['flotilla_api_keys', 'flotilla_audit', 'flotilla_blocks', 'runs'])
      expect(ledger).toEqual([{ domain: 'security', version: 1, name: 'api keys, blocks, audit log' }])
    })

    it('keep the details of an entry as JSON text, exactly as given, and read them back', async () => {
      const schema = schemaForTest()
      const audit = new AuditLog(await log(schema, 1))
      const details = { z: 'last', a: [1, 2.5, { y: null, x: 'é' }], big: 2 ** 52, empty: {} }
      const e = await audit.record({ actor: 'cli', action: 'a.b', resource: 'r:1', outcome: 'failed', details })
      const text = await withClient(
        async (c) => (await c.query(`SELECT details FROM "${schema}".flotilla_audit WHERE seq = 1`)).rows[0].details,
      )
      expect(text).toBe(JSON.stringify(details))
      const [back] = await audit.query()
      expect(back).toEqual(e)
      expect(Object.keys(back.details!)).toEqual(['z', 'a', 'big', 'empty'])
    })

    it('a build that throws writes nothing and releases the lock; a closed adapter refuses with STORE_UNAVAILABLE', async () => {
      const schema = schemaForTest()
      const store = await log(schema, 1)
      await expect(
        store.append(() => {
          throw new Error('no')
        }),
      ).rejects.toMatchObject({ code: 'INTERNAL' })
      const audit = new AuditLog(store)
      expect((await audit.record({ actor: 'a', action: 'b.c', resource: 'r', outcome: 'succeeded' })).seq).toBe(1)
      await store.close()
      await expect(store.query({})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    })
  })
})
