import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunEvent } from '../../src/core/events.js'
import type { RunId } from '../../src/core/ids.js'
import { quoteIdent } from '../../src/db/postgres/ident.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { encodeBatch } from '../../src/store/postgres/codec.js'
import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
import type { TailedEvent } from '../../src/store/records.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { logEvent, seedRun } from '../../src/testing/store-fixtures.js'
import { caughtUp, storeTailContract, tailAll } from '../../src/testing/store-tail-contract.js'
import { loadPostgresRelease, loadSqliteRelease, RELEASE } from '../db/release-fixture.js'
import { describePostgres, dropSchema, freshSchema, POSTGRES_URL } from '../helpers/postgres.js'

const folders = new Map<Store, string>()
const tempFile = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-tail-'))
  return join(dir, 'flotilla.db')
}
const removeFile = (path: string): void => rmSync(join(path, '..'), { recursive: true, force: true })

storeTailContract({ name: 'memory', create: async () => new MemoryStore() })
storeTailContract({
  name: 'sqlite (file)',
  create: async () => {
    const path = tempFile()
    const store = SqliteStore.open({ path })
    folders.set(store, path)
    return store
  },
  destroy: async (store) => {
    await store.close()
    removeFile(folders.get(store)!)
    folders.delete(store)
  },
})
storeTailContract({ name: 'sqlite (:memory:)', create: async () => SqliteStore.open({ path: ':memory:' }) })

const text = (e: TailedEvent): string => (e.event.type === 'task.log' ? e.event.message : e.event.type)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Checks that each run's events were seen once, numbered 1..n in order. */
function expectEachRunInOrder(seen: readonly TailedEvent[]): void {
  const byRun = new Map<string, number[]>()
  for (const e of seen) byRun.set(e.event.runId, [...(byRun.get(e.event.runId) ?? []), e.seq])
  for (const seqs of byRun.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1))
}

describe('SQLite event positions', () => {
  const paths: string[] = []
  afterEach(() => {
    for (const p of paths.splice(0)) removeFile(p)
  })

  it('are the same after a restart, and a cursor goes on from where it was', async () => {
    const path = tempFile()
    paths.push(path)
    let store = SqliteStore.open({ path })
    const id = await seedRun(store)
    await store.commit({ ops: [], events: [logEvent(id, 'one'), logEvent(id, 'two')] })
    const first = await tailAll(store)
    await store.close()
    store = SqliteStore.open({ path })
    try {
      expect((await tailAll(store)).events).toEqual(first.events)
      await store.commit({ ops: [], events: [logEvent(id, 'three')] })
      expect((await tailAll(store, { after: first.next })).events.map(text)).toEqual(['three'])
    } finally {
      await store.close()
    }
  })

  it('order the commits of two connections to one file as they were made', async () => {
    const path = tempFile()
    paths.push(path)
    const [a, b] = [SqliteStore.open({ path }), SqliteStore.open({ path })]
    try {
      const [ra, rb] = [await seedRun(a), await seedRun(b)]
      const order: string[] = []
      for (let i = 0; i < 10; i++) {
        const [store, run] = i % 3 === 0 ? [b, rb] : [a, ra]
        await store.commit({ ops: [], events: [logEvent(run, `m${i}`)] })
        order.push(`m${i}`)
      }
      expect((await tailAll(a, { limit: 3 })).events.map(text)).toEqual(order)
      expect((await tailAll(b)).events.map(text)).toEqual(order)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('number the events of a file written by Flotilla 0.1.0 before the new ones', async () => {
    const path = tempFile()
    paths.push(path)
    loadSqliteRelease(path)
    const store = SqliteStore.open({ path })
    try {
      const old = await tailAll(store)
      expect(old.events.map((e) => [e.event.runId, e.seq, e.event.type])).toEqual([
        [RELEASE.runId, 1, 'run.started'],
        [RELEASE.runId, 2, 'task.log'],
      ])
      await store.commit({ ops: [], events: [logEvent(RELEASE.runId, 'after the upgrade')] })
      const all = await tailAll(store)
      expect(all.events.map((e) => [e.seq, text(e)])).toEqual([
        [1, 'run.started'],
        [2, text(old.events[1])],
        [3, 'after the upgrade'],
      ])
      expect((await tailAll(store, { after: old.next })).events.map(text)).toEqual(['after the upgrade'])
    } finally {
      await store.close()
    }
  })
})

await describePostgres('PostgreSQL event positions', () => {
  storeTailContract({
    name: 'postgres',
    create: () => PostgresStore.connect(POSTGRES_URL, { schema: freshSchema(), poolSize: 2 }),
    destroy: async (store) => {
      await store.close()
      await dropSchema((store as PostgresStore).schema)
    },
  })

  const cleanup: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn()
  })

  async function open(schema: string, poolSize = 2): Promise<PostgresStore> {
    const store = await PostgresStore.connect(POSTGRES_URL, { schema, poolSize })
    cleanup.push(() => store.close())
    return store
  }

  /** A connection of its own, for a transaction held open across other commits. */
  async function rawClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    client.on('error', () => undefined)
    await client.connect()
    cleanup.push(() => client.end().catch(() => undefined))
    return client
  }

  /** Appends events in the client's transaction, as the store's commit does. */
  async function commitIn(client: pg.Client, schema: string, events: RunEvent[]): Promise<void> {
    const p = encodeBatch({ ops: [], events })
    await client.query(`SELECT ${quoteIdent(schema)}.flotilla_commit($1::json, $2::text[], $3::text[], $4::text[])`, [
      p.ops,
      p.vals,
      p.evRuns,
      p.evBodies,
    ])
  }

  function newSchema(): string {
    const schema = freshSchema()
    cleanup.unshift(() => dropSchema(schema))
    return schema
  }

  it('sees every event of two pools once, holding back those after a transaction still open', async () => {
    const schema = newSchema()
    const [a, b, tailer] = [await open(schema), await open(schema), await open(schema, 1)]
    const runsA = [await seedRun(a), await seedRun(a)]
    const runsB = [await seedRun(b)]
    const held = await seedRun(a)
    const sent: string[] = []
    const write = async (store: Store, runs: RunId[], tag: string, batches: number): Promise<void> => {
      for (let i = 0; i < batches; i++) {
        const events = Array.from({ length: 1 + (i % 3) }, (_, k) =>
          logEvent(runs[(i + k) % runs.length], `${tag}${i}.${k}`),
        )
        sent.push(...events.map((e) => (e.type === 'task.log' ? e.message : '')))
        await store.commit({ ops: [], events })
      }
    }
    await write(a, runsA, 'early', 3)

    const seen: TailedEvent[] = []
    let stop = false
    const tailing = (async () => {
      let after: string | undefined
      while (!stop) {
        const page = await tailer.tailEvents({ after, limit: 7 })
        seen.push(...page.events)
        after = page.next
        if (page.events.length === 0) await sleep(2)
      }
    })()

    // A transaction that takes its id now and commits last: its events sort before everything after.
    const client = await rawClient()
    await client.query('BEGIN')
    await commitIn(client, schema, [logEvent(held, 'held 1'), logEvent(held, 'held 2')])
    await Promise.all([write(a, runsA, 'a', 25), write(b, runsB, 'b', 25)])
    await sleep(50)
    const whileHeld = seen.map(text)
    expect(whileHeld.every((m) => m.startsWith('early'))).toBe(true)
    await client.query('COMMIT')
    sent.push('held 1', 'held 2')
    await Promise.all([write(a, runsA, 'late-a', 15), write(b, runsB, 'late-b', 15)])
    // Any transaction open on the server holds the tail back: wait for it to catch up.
    for (let i = 0; i < 2000 && seen.length < sent.length; i++) await sleep(10)
    stop = true
    await tailing
    expect(seen.map(text).sort()).toEqual([...sent].sort())
    expect(new Set(seen.map((e) => e.position)).size).toBe(seen.length)
    expectEachRunInOrder(seen)
    expect((await tailAll(tailer, { after: seen[seen.length - 1].position })).events).toEqual([])
    expect((await tailAll(a)).events).toEqual(seen)
  })

  it("keeps a run's order when a transaction that began first appends to it after another", async () => {
    const schema = newSchema()
    const [store, peer] = [await open(schema), await open(schema)]
    const run = await seedRun(store)
    const other = await seedRun(store)
    const client = await rawClient()
    await client.query('BEGIN')
    await client.query('SELECT pg_current_xact_id()') // takes its transaction id before the peer's
    await peer.commit({ ops: [], events: [logEvent(run, 'peer 1'), logEvent(run, 'peer 2')] })
    await commitIn(client, schema, [logEvent(run, 'first-begun 3'), logEvent(other, 'other 1')])
    await client.query('COMMIT')
    await caughtUp(store, 4)
    const all = (await tailAll(store)).events
    expect(all.filter((e) => e.event.runId === run).map((e) => [e.seq, text(e)])).toEqual([
      [1, 'peer 1'],
      [2, 'peer 2'],
      [3, 'first-begun 3'],
    ])
    expect((await tailAll(store, { runId: run })).events.map(text)).toEqual(['peer 1', 'peer 2', 'first-begun 3'])
    expect(all.map(text).sort()).toEqual(['first-begun 3', 'other 1', 'peer 1', 'peer 2'])
  })

  it('numbers the events of a schema written by Flotilla 0.1.0 before the new ones', async () => {
    const schema = newSchema()
    await loadPostgresRelease(schema)
    const store = await open(schema)
    const old = await tailAll(store)
    expect(old.events.map((e) => [e.event.runId, e.seq, e.event.type])).toEqual([
      [RELEASE.runId, 1, 'run.started'],
      [RELEASE.runId, 2, 'task.log'],
    ])
    await store.commit({ ops: [], events: [logEvent(RELEASE.runId, 'after the upgrade')] })
    await caughtUp(store, 3)
    expect((await tailAll(store, { after: old.next })).events.map((e) => [e.seq, text(e)])).toEqual([
      [3, 'after the upgrade'],
    ])
    expect((await tailAll(store, { runId: RELEASE.runId, limit: 1 })).events.map((e) => e.seq)).toEqual([1, 2, 3])
  })
})
