import { afterEach, expect, it } from 'vitest'
import { PostgresContextBackend } from '../../src/context/postgres/postgres-context-backend.js'
import { CONTEXT_DOMAIN } from '../../src/context/postgres/schema.js'
import { openPostgresBus } from '../../src/messaging/postgres/postgres-bus.js'
import { BUS_DOMAIN } from '../../src/messaging/postgres/schema.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { MIGRATIONS } from '../../src/store/postgres/schema.js'
import { describePostgres, dropSchema, freshSchema, POSTGRES_URL, withClient } from '../helpers/postgres.js'
import {
  expectReleaseContext,
  expectReleaseRuns,
  expectWritable,
  loadPostgresRelease,
  RELEASE,
} from './release-fixture.js'

type LedgerRow = { domain: string; version: number; name: string }

const cleanup: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A new schema, dropped after the test. */
function schemaForTest(): string {
  const schema = freshSchema()
  cleanup.push(() => dropSchema(schema))
  return schema
}

async function open(schema: string): Promise<Backend> {
  const backend = await openBackend(`${POSTGRES_URL}?schema=${schema}`)
  cleanup.push(() => backend.close())
  return backend
}

const ledger = (schema: string): Promise<LedgerRow[]> =>
  withClient(
    async (c) =>
      (await c.query<LedgerRow>(`SELECT domain, version, name FROM "${schema}".flotilla_migrations ORDER BY 1, 2`))
        .rows,
  )
const meta = (schema: string): Promise<unknown[]> =>
  withClient(async (c) => (await c.query(`SELECT product, schema_version FROM "${schema}".flotilla_meta`)).rows)
const tableNames = (schema: string): Promise<string[]> =>
  withClient(async (c) =>
    (
      await c.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema])
    ).rows.map((r) => r.t),
  )

const everyDomain: LedgerRow[] = [
  { domain: 'bus', version: 1, name: BUS_DOMAIN.migrations[0].name },
  { domain: 'context', version: 1, name: CONTEXT_DOMAIN.migrations[0].name },
  { domain: 'security', version: 1, name: 'api keys, blocks, audit log' },
  ...MIGRATIONS.map((m) => ({ domain: 'store', version: m.version, name: m.name })),
]

await describePostgres('PostgreSQL: a schema written by Flotilla 0.1.0', () => {
  it('opens with all its data (runs, artifacts, cache, a pending message), its version table upgraded in place', async () => {
    const schema = schemaForTest()
    await loadPostgresRelease(schema)
    const backend = await open(schema)
    await expectReleaseRuns(backend.store)
    await expectReleaseContext(backend.context)
    const [message] = await backend.bus!.receive('reviewer')
    expect(message).toMatchObject({ from: 'writer', body: { text: 'please review' }, headers: { 'x-trace': 't1' } })
    expect(await ledger(schema)).toEqual(everyDomain)
    expect(await meta(schema)).toEqual([{ product: 'flotilla', schema_version: MIGRATIONS.length }])
    expect(await tableNames(schema)).not.toContain('flotilla_migrations_0_1')
    await expectWritable(backend.store, backend.context)
    await backend.bus!.ack('reviewer', message.id)
    // Reopening applies nothing.
    const again = await open(schema)
    expect(await again.bus!.receive('reviewer')).toEqual([])
    expect(await ledger(schema)).toEqual(everyDomain)
  })

  it('upgrades once when many processes open it at the same time', async () => {
    const schema = schemaForTest()
    await loadPostgresRelease(schema)
    const opened = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        i % 2 === 0
          ? openBackend(`${POSTGRES_URL}?schema=${schema}`, { postgres: { poolSize: 2 } })
          : PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 1 }),
      ),
    )
    for (const part of opened) cleanup.push(() => part.close())
    expect(await ledger(schema)).toEqual(everyDomain)
    await expectReleaseRuns((opened[0] as Backend).store)
  })

  it('opens a schema where only a 0.1.0 bus was opened: the store takes it, the message stays', async () => {
    const schema = schemaForTest()
    await loadPostgresRelease(schema, 'bus-only')
    expect(await tableNames(schema)).not.toContain('flotilla_meta')
    const backend = await open(schema)
    expect((await backend.bus!.receive('reviewer')).map((m) => m.body)).toEqual([{ text: 'bus only' }])
    expect(await ledger(schema)).toEqual(everyDomain)
    expect(await meta(schema)).toEqual([{ product: 'flotilla', schema_version: MIGRATIONS.length }])
    expect(await backend.store.getRun(RELEASE.runId)).toBeUndefined()
  })
})

await describePostgres('PostgreSQL migrator', () => {
  it('records each domain on its own: the context alone creates only its tables and the mark', async () => {
    const schema = schemaForTest()
    const context = await PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 1 })
    cleanup.push(() => context.close())
    expect(await ledger(schema)).toEqual([{ domain: 'context', version: 1, name: CONTEXT_DOMAIN.migrations[0].name }])
    expect(await meta(schema)).toEqual([{ product: 'flotilla', schema_version: 0 }])
    expect((await tableNames(schema)).filter((t) => !t.startsWith('flotilla_'))).toEqual([])
    const store = await PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 1 })
    cleanup.push(() => store.close())
    expect(await meta(schema)).toEqual([{ product: 'flotilla', schema_version: MIGRATIONS.length }])
  })

  it("refuses a schema whose context version is newer than this code's (STORE_SCHEMA_TOO_NEW, naming the domain); the store still connects", async () => {
    const schema = schemaForTest()
    await (await open(schema)).close()
    await withClient((c) =>
      c.query(`INSERT INTO "${schema}".flotilla_migrations (domain, version, name) VALUES ('context', 9, 'later')`),
    )
    await expect(PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 1 })).rejects.toMatchObject({
      code: 'STORE_SCHEMA_TOO_NEW',
      details: { domain: 'context', storedVersion: 9, supportedVersion: 1 },
    })
    const store = await PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 1 })
    cleanup.push(() => store.close())
  })

  it("lets a bus share another program's schema without marking it; a store then refuses that schema", async () => {
    const schema = schemaForTest()
    await withClient((c) => c.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".invoices (id int)`))
    const bus = await openPostgresBus({ connectionString: POSTGRES_URL, schema, poolSize: 2 })
    cleanup.push(() => bus.close())
    await bus.send('b', 1)
    expect(await meta(schema)).toEqual([])
    expect(await ledger(schema)).toEqual([{ domain: 'bus', version: 1, name: BUS_DOMAIN.migrations[0].name }])
    await expect(PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 1 })).rejects.toMatchObject({
      code: 'STORE_NOT_FLOTILLA',
    })
    await expect(PostgresContextBackend.connect(POSTGRES_URL, { schema, poolSize: 1 })).rejects.toMatchObject({
      code: 'STORE_NOT_FLOTILLA',
    })
  })
})
