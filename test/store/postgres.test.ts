import { afterEach, describe, expect, it } from 'vitest'
import type { RunEvent } from '../../src/core/events.js'
import { asTaskId, newAgentId, newRunId, type RunId } from '../../src/core/ids.js'
import * as entry from '../../src/postgres.js'
import { PostgresStore } from '../../src/postgres.js'
import type { AgentRecord, StoreOp } from '../../src/store/records.js'
import { quoteIdent } from '../../src/db/postgres/ident.js'
import { resolvePostgresOptions, sessionOptions } from '../../src/db/postgres/options.js'
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/postgres/schema.js'
import { storeContract } from '../../src/testing/store-contract.js'
import {
  describePostgres,
  dropSchema,
  freshSchema,
  POSTGRES_URL,
  withClient,
  withFreshSchema,
} from '../helpers/postgres.js'

const T0 = Date.UTC(2026, 0, 1)

function createOp(
  id: RunId,
  taskIds: readonly string[],
  definition: unknown = { name: 'wf', tasks: taskIds },
): StoreOp {
  return {
    op: 'run.create',
    run: {
      id,
      workflow: 'wf',
      workflowHash: 'h'.repeat(64),
      definition,
      input: { n: 1 },
      state: 'RUNNING',
      createdAt: T0,
      startedAt: T0,
      finishedAt: undefined,
      error: undefined,
      parentRunId: undefined,
    },
    tasks: taskIds.map((t) => ({
      runId: id,
      taskId: asTaskId(t),
      state: 'PENDING',
      attempt: 0,
      agent: undefined,
      priority: 'MEDIUM',
      idempotencyKey: `${id}:${t}`,
      startedAt: undefined,
      finishedAt: undefined,
      output: undefined,
      error: undefined,
    })),
  }
}
const start = (runId: RunId, t: string, attempt: number): StoreOp => ({
  op: 'task.start',
  runId,
  taskId: asTaskId(t),
  attempt,
  agent: 'w@1',
  at: T0 + 1,
})
const succeed = (runId: RunId, t: string, attempt: number, output: unknown): StoreOp => ({
  op: 'task.succeed',
  runId,
  taskId: asTaskId(t),
  attempt,
  output,
  at: T0 + 2,
})
const agentRecord = (extra: Partial<AgentRecord> = {}): AgentRecord => ({
  id: newAgentId(),
  name: 'scanner',
  version: '1.0.0',
  parentId: null,
  runtime: 'process',
  state: 'PENDING',
  reason: null,
  spec: { name: 'scanner' },
  permissions: [],
  limits: { memoryMb: 64 },
  pid: null,
  createdAt: T0,
  updatedAt: T0,
  ...extra,
})
const log = (runId: RunId, message: string): RunEvent => ({
  type: 'task.log',
  at: T0,
  runId,
  taskId: asTaskId('a'),
  level: 'info',
  message,
})

describe('flotilla/postgres', () => {
  it('exports exactly the store, the bus, the context backend and the security stores (pg is loaded only when connecting)', () => {
    expect(Object.keys(entry).sort()).toEqual([
      'PostgresAuditLogStore',
      'PostgresBus',
      'PostgresContextBackend',
      'PostgresSecurityStore',
      'PostgresStore',
      'openPostgresBus',
    ])
    expect(typeof entry.PostgresStore.connect).toBe('function')
  })
})

describe('PostgreSQL store options', () => {
  it("resolves defaults and turns synchronousCommit off through the session options, keeping the URL's", () => {
    const o = resolvePostgresOptions('postgres://me:pw@db.example:6543/app')
    expect(o).toMatchObject({
      schema: 'flotilla',
      poolSize: 10,
      synchronousCommit: true,
      connectTimeoutMs: 10_000,
      target: { host: 'db.example', port: 6543, database: 'app', user: 'me' },
    })
    expect(sessionOptions(o)).toBeUndefined()
    expect(sessionOptions(resolvePostgresOptions('postgres://db/app', { synchronousCommit: false }))).toBe(
      '-c synchronous_commit=off',
    )
    expect(
      sessionOptions(
        resolvePostgresOptions('postgres://db/app?options=-c%20work_mem%3D8MB', { synchronousCommit: false }),
      ),
    ).toBe('-c work_mem=8MB -c synchronous_commit=off')
  })

  it('reads the schema from the URL (the option wins) and hands the driver the URL without it', () => {
    expect(resolvePostgresOptions('postgres://u:p%40ss@db:5432/app?schema=ci_1&sslmode=disable')).toMatchObject({
      schema: 'ci_1',
      url: 'postgres://u:p%40ss@db:5432/app?sslmode=disable',
    })
    expect(resolvePostgresOptions('postgres://db/app?schema=ci_1', { schema: 'mine' })).toMatchObject({
      schema: 'mine',
      url: 'postgres://db/app',
    })
    expect(() => resolvePostgresOptions('postgres://db/app?schema=bad-name')).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    )
  })
})

await describePostgres('PostgresStore', () => {
  storeContract({
    name: 'postgres',
    create: () => PostgresStore.connect(POSTGRES_URL, { schema: freshSchema(), poolSize: 2 }),
    destroy: async (store) => {
      await store.close()
      await dropSchema((store as PostgresStore).schema)
    },
    openPeer: async (store) =>
      PostgresStore.connect(POSTGRES_URL, { schema: (store as PostgresStore).schema, poolSize: 2 }),
  })

  describe('PostgreSQL specifics', () => {
    const cleanup: (() => Promise<unknown>)[] = []
    afterEach(async () => {
      for (const fn of cleanup.splice(0).reverse()) await fn()
    })

    /** A store on a new schema (or the given one), closed and dropped after the test. */
    async function open(schema = freshSchema(), options: { synchronousCommit?: boolean } = {}): Promise<PostgresStore> {
      const store = await PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 4, ...options })
      cleanup.push(
        () => dropSchema(schema),
        () => store.close(),
      )
      return store
    }

    const count = (schema: string, table: string): Promise<number> =>
      withClient(async (c) => Number((await c.query(`SELECT count(*) AS n FROM "${schema}".${table}`)).rows[0].n))

    it('makes committed data visible to a second connection, with one definitions row per distinct definition', async () => {
      const a = await open()
      const b = await open(a.schema)
      const ids = [newRunId(), newRunId(), newRunId()]
      const shared = { name: 'shared', tasks: [{ id: 'a', agent: 'x' }] }
      await a.commit({
        ops: [
          createOp(ids[0], ['a'], shared),
          createOp(ids[1], ['a'], structuredClone(shared)),
          createOp(ids[2], ['a'], { other: true }),
        ],
        events: [log(ids[0], 'hello')],
      })
      await a.commit({ ops: [start(ids[0], 'a', 1), succeed(ids[0], 'a', 1, { deep: [1, { x: null }] })], events: [] })
      expect(await b.getRun(ids[1])).toMatchObject({ id: ids[1], definition: shared, input: { n: 1 } })
      expect(await b.getTask(ids[0], asTaskId('a'))).toMatchObject({
        state: 'SUCCEEDED',
        output: { deep: [1, { x: null }] },
      })
      expect(await b.listEvents(ids[0])).toEqual([{ seq: 1, event: log(ids[0], 'hello') }])
      expect(await count(a.schema, 'definitions')).toBe(2)
    })

    it('lets exactly one of two racing stores record the result of an attempt', async () => {
      const a = await open()
      const b = await open(a.schema)
      const id = newRunId()
      const tasks = Array.from({ length: 20 }, (_, i) => `t${i}`)
      await a.commit({ ops: [createOp(id, tasks)], events: [] })
      for (const t of tasks) {
        // Racing starts of the same attempt: one wins.
        const starts = await Promise.allSettled([
          a.commit({ ops: [start(id, t, 1)], events: [] }),
          b.commit({ ops: [start(id, t, 1)], events: [] }),
        ])
        expect(starts.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        // Racing results of that attempt: one wins, the other is refused, and the winner's output is stored.
        const results = await Promise.allSettled([
          a.commit({ ops: [succeed(id, t, 1, 'from a')], events: [log(id, `a ${t}`)] }),
          b.commit({ ops: [succeed(id, t, 1, 'from b')], events: [log(id, `b ${t}`)] }),
        ])
        const won = results.findIndex((r) => r.status === 'fulfilled')
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        expect((results[1 - won] as PromiseRejectedResult).reason).toMatchObject({
          code: 'STORE_CONFLICT',
          details: { sqlstate: 'FL409', taskId: t, storedAttempt: 1 },
        })
        expect((await b.getTask(id, asTaskId(t)))?.output).toBe(won === 0 ? 'from a' : 'from b')
      }
      // Only the winners' events were appended, numbered without gaps.
      expect((await a.listEvents(id)).map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    })

    it('applies the migrations once when several stores connect to a new schema at the same time', async () => {
      const schema = freshSchema()
      cleanup.push(() => dropSchema(schema))
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStore.connect(POSTGRES_URL, { schema, poolSize: 1 })),
      )
      cleanup.push(() => Promise.all(stores.map((s) => s.close())))
      const rows = await withClient(
        async (c) => (await c.query(`SELECT version FROM "${schema}".flotilla_migrations ORDER BY version`)).rows,
      )
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version))
      const meta = await withClient(
        async (c) => (await c.query(`SELECT product, schema_version FROM "${schema}".flotilla_meta`)).rows,
      )
      expect(meta).toEqual([{ product: 'flotilla', schema_version: SCHEMA_VERSION }])
      const id = newRunId()
      await stores[0].commit({ ops: [createOp(id, ['a'])], events: [] })
      expect((await stores[3].getRun(id))?.id).toBe(id)
    })

    it('upgrades a schema of version 1 to the agent tables, keeping its runs', async () => {
      const schema = freshSchema()
      cleanup.push(() => dropSchema(schema))
      const s = quoteIdent(schema)
      const id = newRunId()
      await withClient(async (c) => {
        await c.query(`CREATE SCHEMA ${s}`)
        // The mark and the version table as Flotilla 0.1's first migration made them (no domain column).
        await c.query(`CREATE TABLE ${s}.flotilla_meta (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
          product text NOT NULL, schema_version integer NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
          CREATE TABLE ${s}.flotilla_migrations (version integer PRIMARY KEY, name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now())`)
        await c.query(MIGRATIONS[0].up(s, schema))
        await c.query(`INSERT INTO ${s}.flotilla_migrations (version, name) VALUES (1, $1)`, [MIGRATIONS[0].name])
        await c.query(`INSERT INTO ${s}.flotilla_meta (product, schema_version) VALUES ('flotilla', 1)`)
        await c.query(
          `INSERT INTO ${s}.runs (id, workflow, workflow_hash, state, created_at) VALUES ($1, 'wf', 'h', 'RUNNING', $2)`,
          [id, T0],
        )
      })
      const store = await open(schema)
      expect(await store.getRun(id)).toMatchObject({ id, state: 'RUNNING' })
      const rows = await withClient(
        async (c) => (await c.query(`SELECT version FROM ${s}.flotilla_migrations ORDER BY version`)).rows,
      )
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version))
      const meta = await withClient(async (c) => (await c.query(`SELECT schema_version FROM ${s}.flotilla_meta`)).rows)
      expect(meta).toEqual([{ schema_version: SCHEMA_VERSION }])
      const indexes = await withClient(
        async (c) =>
          (await c.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'agents'`, [schema]))
            .rows,
      )
      expect(indexes.map((r) => r.indexname)).toEqual(expect.arrayContaining(['agents_parent', 'agents_state']))
      const agent = agentRecord()
      await store.saveAgent(agent, { from: null, to: 'PENDING', reason: null, at: T0 })
      expect(await store.getAgent(agent.id)).toEqual(agent)
    })

    it('numbers the transitions of one agent without gaps or duplicates when two stores save it concurrently', async () => {
      const a = await open()
      const b = await open(a.schema)
      const agent = agentRecord({ state: 'RUNNING' })
      await a.saveAgent(agent, { from: null, to: 'RUNNING', reason: null, at: T0 })
      // RUNNING → RUNNING (a new pid, say) is fenced by a state every save keeps, so all of them win.
      const saves = Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? a : b).saveAgent(
          { ...agent, pid: i, updatedAt: T0 + i },
          { from: 'RUNNING', to: 'RUNNING', reason: `save ${i}`, at: T0 + i },
        ),
      )
      await Promise.all(saves)
      const transitions = await b.listAgentTransitions(agent.id)
      expect(transitions.map((t) => t.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1))
      expect(new Set(transitions.map((t) => t.reason)).size).toBe(21)
    })

    it('stores agent JSON fields as json (SQL NULL for undefined) and prunes the transitions with their agent', async () => {
      const store = await open()
      const agent = agentRecord({ spec: undefined, permissions: null })
      await store.saveAgent(agent, { from: null, to: 'PENDING', reason: null, at: T0 })
      await store.saveAgent(
        { ...agent, state: 'TERMINATED', reason: 'stopped', updatedAt: T0 + 5 },
        { from: 'PENDING', to: 'TERMINATED', reason: 'stopped', at: T0 + 5 },
      )
      const raw = await withClient(
        async (c) =>
          (
            await c.query(
              `SELECT spec IS NULL AS no_spec, permissions::text AS permissions, transition_count FROM "${store.schema}".agents`,
            )
          ).rows,
      )
      expect(raw).toEqual([{ no_spec: true, permissions: 'null', transition_count: 2 }])
      expect([await count(store.schema, 'agents'), await count(store.schema, 'agent_transitions')]).toEqual([1, 2])
      expect(await store.pruneAgents(Number.NaN)).toBe(0)
      expect(await store.pruneAgents(T0 + 6)).toBe(1)
      expect([await count(store.schema, 'agents'), await count(store.schema, 'agent_transitions')]).toEqual([0, 0])
    })

    it('refuses a schema holding other tables with STORE_NOT_FLOTILLA and creates nothing in it', async () => {
      const schema = freshSchema()
      cleanup.push(() => dropSchema(schema))
      await withClient((c) =>
        c.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".invoices (id int PRIMARY KEY)`),
      )
      await expect(PostgresStore.connect(POSTGRES_URL, { schema })).rejects.toMatchObject({
        code: 'STORE_NOT_FLOTILLA',
        details: { schema },
      })
      const tables = await withClient(
        async (c) =>
          (await c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [schema])).rows,
      )
      expect(tables).toEqual([{ table_name: 'invoices' }])
    })

    it('refuses a schema written by a newer version with STORE_SCHEMA_TOO_NEW, changing nothing', async () => {
      const store = await open()
      await store.close()
      await withClient((c) =>
        c.query(`UPDATE "${store.schema}".flotilla_meta SET schema_version = $1`, [SCHEMA_VERSION + 1]),
      )
      const err = await PostgresStore.connect(POSTGRES_URL, { schema: store.schema }).catch((e: unknown) => e)
      expect(err).toMatchObject({
        code: 'STORE_SCHEMA_TOO_NEW',
        details: { storedVersion: SCHEMA_VERSION + 1, supportedVersion: SCHEMA_VERSION },
      })
      expect((err as Error).message).toMatch(/Upgrade Flotilla/)
      expect(await count(store.schema, 'flotilla_migrations')).toBe(MIGRATIONS.length)
    })

    it.each([
      ['an empty string', ''],
      ['text that is not a URL', 'not a url'],
      ['another scheme', 'mysql://root@127.0.0.1:3306/test'],
      ['a URL without a host', 'postgres:///test'],
      ['a bad escape', 'postgres://postgres@127.0.0.1:5432/%zz'],
    ])('answers STORE_URL_INVALID to %s', async (_label, url) => {
      const err = await PostgresStore.connect(url).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'STORE_URL_INVALID' })
      expect((err as Error).message).toMatch(/postgres:\/\/user:password@host:5432\/database/)
    })

    it('answers VALIDATION_FAILED to a bad option, before connecting', async () => {
      await expect(PostgresStore.connect(POSTGRES_URL, { schema: 'drop table; --' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { path: 'schema' },
      })
      await expect(PostgresStore.connect(POSTGRES_URL, { poolSize: 0 })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { path: 'poolSize' },
      })
    })

    it('answers STORE_UNAVAILABLE quickly when nothing listens on the port, naming the target and what to check', async () => {
      const began = performance.now()
      const err = await PostgresStore.connect('postgres://postgres:secret@127.0.0.1:1/test').catch((e: unknown) => e)
      expect(performance.now() - began).toBeLessThan(3_000)
      expect(err).toMatchObject({
        code: 'STORE_UNAVAILABLE',
        retryable: true,
        details: { errno: 'ECONNREFUSED', target: 'postgres@127.0.0.1:1/test' },
      })
      expect((err as Error).message).toMatch(/127\.0\.0\.1:1.*PostgreSQL is running/)
      expect((err as Error).message).not.toMatch(/secret/)
    })

    it('answers STORE_UNAVAILABLE with the SQLSTATE for a database that does not exist', async () => {
      const err = await PostgresStore.connect(POSTGRES_URL.replace(/\/[^/]*$/, '/flotilla_no_such_database')).catch(
        (e: unknown) => e,
      )
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', details: { sqlstate: '3D000' } })
      expect((err as Error).message).toMatch(/database does not exist/)
    })

    it('stores a JSON null output as null and a missing one as SQL NULL, and keeps nested values and NUL characters', async () => {
      const store = await open()
      const id = newRunId()
      const nested = { list: [null, [[]], { '': 'empty key', ü: '\u0000' }], n: -0.5, big: 2 ** 53 - 1 }
      await store.commit({
        ops: [
          createOp(id, ['a', 'b', 'c']),
          start(id, 'a', 1),
          succeed(id, 'a', 1, null),
          start(id, 'b', 1),
          succeed(id, 'b', 1, undefined),
          start(id, 'c', 1),
          succeed(id, 'c', 1, nested),
        ],
        events: [],
      })
      const tasks = await store.getTasks(id)
      expect(tasks.map((t) => t.output)).toEqual([null, undefined, nested])
      expect(tasks[0].output).toBeNull()
      expect(tasks[1].output).toBeUndefined()
      const raw = await withClient(
        async (c) =>
          (
            await c.query(
              `SELECT task_id, output IS NULL AS missing FROM "${store.schema}".tasks WHERE run_id = $1 ORDER BY idx`,
              [id],
            )
          ).rows,
      )
      expect(raw).toEqual([
        { task_id: 'a', missing: false },
        { task_id: 'b', missing: true },
        { task_id: 'c', missing: false },
      ])
    })

    it('maps a duplicate task id to STORE_CONFLICT with the SQLSTATE in details', async () => {
      const store = await open()
      await expect(store.commit({ ops: [createOp(newRunId(), ['a', 'a'])], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
        details: { sqlstate: '23505', constraint: 'tasks_pkey' },
      })
    })

    it('prunes runs with their tasks and events in one go, and definitions no run uses any more', async () => {
      const store = await open()
      const shared = { name: 'shared' }
      const [old1, old2, kept] = [newRunId(), newRunId(), newRunId()]
      await store.commit({
        ops: [
          createOp(old1, ['a', 'b'], shared),
          createOp(old2, ['a'], { name: 'alone' }),
          createOp(kept, ['a'], shared),
        ],
        events: [log(old1, '1'), log(old2, '2'), log(kept, '3')],
      })
      const finish = (runId: RunId, at: number): StoreOp => ({ op: 'run.state', runId, state: 'SUCCEEDED', at })
      await store.commit({ ops: [finish(old1, T0 + 10), finish(old2, T0 + 10), finish(kept, T0 + 1_000)], events: [] })
      expect(await store.pruneRuns(T0 + 500)).toBe(2)
      expect(await count(store.schema, 'runs')).toBe(1)
      expect(await count(store.schema, 'tasks')).toBe(1)
      expect(await count(store.schema, 'events')).toBe(1)
      // The shared definition stays (the kept run uses it); the other one is gone.
      expect(await count(store.schema, 'definitions')).toBe(1)
      expect((await store.getRun(kept))?.definition).toEqual(shared)
      expect(await store.pruneRuns(T0 + 5_000)).toBe(1)
      expect(await count(store.schema, 'definitions')).toBe(0)
      expect(await store.pruneRuns(T0 + 5_000)).toBe(0)
    })

    it('keeps fractional times, prunes nothing before NaN and every final run before Infinity', async () => {
      const store = await open()
      const id = newRunId()
      await store.commit({
        ops: [
          createOp(id, ['a']),
          { op: 'task.start', runId: id, taskId: asTaskId('a'), attempt: 1, agent: 'w@1', at: T0 + 0.25 },
          { op: 'run.state', runId: id, state: 'CANCELLED', at: T0 + 1.5 },
        ],
        events: [],
      })
      expect(await store.getTask(id, asTaskId('a'))).toMatchObject({ startedAt: T0 + 0.25 })
      expect(await store.getRun(id)).toMatchObject({ finishedAt: T0 + 1.5 })
      expect(await store.pruneRuns(Number.NaN)).toBe(0)
      expect(await store.pruneRuns(T0 + 1.5)).toBe(0)
      expect(await store.pruneRuns(Number.POSITIVE_INFINITY)).toBe(1)
    })

    it('reads limits and offsets as the memory store does (Infinity: all, NaN or negative: none)', async () => {
      const store = await open()
      const id = newRunId()
      await store.commit({ ops: [createOp(id, ['a'])], events: [log(id, '1'), log(id, '2'), log(id, '3')] })
      const seqs = async (o: { afterSeq?: number; limit?: number }) => (await store.listEvents(id, o)).map((e) => e.seq)
      expect(await seqs({ limit: Number.POSITIVE_INFINITY })).toEqual([1, 2, 3])
      expect(await seqs({ limit: Number.NaN })).toEqual([])
      expect(await seqs({ limit: -1 })).toEqual([])
      expect(await seqs({ afterSeq: -5, limit: 1e300 })).toEqual([1, 2, 3])
      expect(await seqs({ afterSeq: Number.POSITIVE_INFINITY })).toEqual([])
      expect(await store.listRuns({ limit: Number.POSITIVE_INFINITY })).toHaveLength(1)
      expect(await store.listRuns({ limit: 0 })).toEqual([])
    })

    it('refuses a value that is not JSON with VALIDATION_FAILED, writing nothing', async () => {
      const store = await open()
      const id = newRunId()
      await store.commit({ ops: [createOp(id, ['a'])], events: [] })
      await expect(
        store.commit({ ops: [start(id, 'a', 1), succeed(id, 'a', 1, { n: 1n })], events: [] }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
      expect(await store.getTask(id, asTaskId('a'))).toMatchObject({ state: 'PENDING', attempt: 0 })
    })

    it('takes the schema from the URL, so a URL alone (openStoreAsync, the CLI) can pick it', async () => {
      await withFreshSchema(async (url) => {
        const store = await PostgresStore.connect(url)
        cleanup.push(() => store.close())
        expect(store.schema).toMatch(/^flotilla_test_/)
        expect(url).toContain(`schema=${store.schema}`)
        await store.commit({ ops: [createOp(newRunId(), ['a'])], events: [] })
        expect(await count(store.schema, 'runs')).toBe(1)
      })
    })

    it('reconnects to an existing store without migrating again (smoke test with synchronousCommit off)', async () => {
      const first = await open()
      const id = newRunId()
      await first.commit({ ops: [createOp(id, ['a'])], events: [] })
      await first.close()
      const again = await open(first.schema, { synchronousCommit: false })
      await again.commit({ ops: [start(id, 'a', 1), succeed(id, 'a', 1, 'ok')], events: [] })
      expect((await again.getTask(id, asTaskId('a')))?.output).toBe('ok')
      expect(await count(first.schema, 'flotilla_migrations')).toBe(MIGRATIONS.length)
    })
  })
})
