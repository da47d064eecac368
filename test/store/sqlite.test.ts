import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RunEvent } from '../../src/core/events.js'
import { asTaskId, newAgentId, newRunId, type RunId } from '../../src/core/ids.js'
import type { AgentRecord, RunRecord, StoreOp, TaskRecord } from '../../src/store/records.js'
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/schema.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { storeContract } from '../../src/testing/store-contract.js'

const folders = new Map<Store, string>()

storeContract({
  name: 'sqlite (file)',
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-sqlite-'))
    const store = SqliteStore.open({ path: join(dir, 'flotilla.db') })
    folders.set(store, dir)
    return store
  },
  destroy: async (store) => {
    await store.close()
    rmSync(folders.get(store)!, { recursive: true, force: true })
    folders.delete(store)
  },
  openPeer: async (store) => SqliteStore.open({ path: (store as SqliteStore).path }),
})

storeContract({ name: 'sqlite (:memory:)', create: async () => SqliteStore.open({ path: ':memory:' }) })

const T0 = Date.UTC(2026, 0, 1)
const DEFINITION = Object.freeze({ name: 'wf', tasks: Object.freeze([Object.freeze({ id: 'a', agent: 'x' })]) })

function createOp(
  id: RunId,
  taskIds: readonly string[] = ['a', 'b'],
  extra: Partial<RunRecord> = {},
): Extract<StoreOp, { op: 'run.create' }> {
  const run: RunRecord = {
    id,
    workflow: 'wf',
    workflowHash: 'h'.repeat(64),
    definition: DEFINITION,
    input: { n: 1 },
    state: 'RUNNING',
    createdAt: T0,
    startedAt: T0,
    finishedAt: undefined,
    error: undefined,
    parentRunId: undefined,
    ...extra,
  }
  const tasks: TaskRecord[] = taskIds.map((t) => ({
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
  }))
  return { op: 'run.create', run, tasks }
}
const start = (runId: RunId, taskId: string, attempt: number): StoreOp => ({
  op: 'task.start',
  runId,
  taskId: asTaskId(taskId),
  attempt,
  agent: 'w@1',
  at: T0 + 1,
})
const succeed = (runId: RunId, taskId: string, attempt: number, output: unknown): StoreOp => ({
  op: 'task.succeed',
  runId,
  taskId: asTaskId(taskId),
  attempt,
  output,
  at: T0 + 2,
})
const log = (runId: RunId, message: string): RunEvent => ({
  type: 'task.log',
  at: T0,
  runId,
  taskId: asTaskId('a'),
  level: 'info',
  message,
})

function agentRecord(extra: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id: newAgentId(),
    name: 'scanner',
    version: '1.0.0',
    parentId: null,
    runtime: 'inprocess',
    state: 'PENDING',
    reason: null,
    spec: { name: 'scanner' },
    permissions: [],
    limits: { memoryMb: 64 },
    pid: null,
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  }
}

describe('SqliteStore', () => {
  let dir: string
  let file: string
  const open: Store[] = []
  const openStore = (path = file): SqliteStore => {
    const s = SqliteStore.open({ path })
    open.push(s)
    return s
  }
  /** A plain connection to the file, to look at what the store wrote. */
  const raw = <T>(fn: (db: Database.Database) => T, path = file): T => {
    const db = new Database(path)
    try {
      return fn(db)
    } finally {
      db.close()
    }
  }
  const count = (table: string): number =>
    raw((db) => db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).get()!.n)

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-sqlite-'))
    file = join(dir, 'flotilla.db')
  })

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('is durable, named sqlite, and keeps committed data across close and reopen', async () => {
    const id = newRunId()
    const first = openStore()
    expect(first).toMatchObject({ kind: 'sqlite', durable: true })
    await first.commit({
      ops: [createOp(id), start(id, 'a', 1), succeed(id, 'a', 1, { deep: [1, { x: null }] })],
      events: [log(id, 'one')],
    })
    await first.close()
    const second = openStore()
    expect(await second.getRun(id)).toMatchObject({ id, state: 'RUNNING', definition: DEFINITION, input: { n: 1 } })
    expect(await second.getTasks(id)).toMatchObject([
      { taskId: 'a', state: 'SUCCEEDED', attempt: 1, output: { deep: [1, { x: null }] } },
      { taskId: 'b', state: 'PENDING', output: undefined },
    ])
    expect(await second.listEvents(id)).toEqual([{ seq: 1, event: log(id, 'one') }])
    await second.commit({ ops: [], events: [log(id, 'two')] })
    expect((await second.listEvents(id)).map((e) => e.seq)).toEqual([1, 2])
  })

  it('shows one connection what another committed, and nothing of a batch that failed', async () => {
    const writer = openStore()
    const reader = openStore()
    const id = newRunId()
    await writer.commit({ ops: [createOp(id)], events: [] })
    expect((await reader.getRun(id))?.id).toBe(id)
    const failing = {
      ops: [
        start(id, 'a', 1),
        succeed(id, 'a', 1, 'x'),
        createOp(newRunId()),
        start(id, 'b', 1),
        succeed(id, 'b', 2, 'stale'),
      ],
      events: [log(id, 'lost')],
    }
    await expect(writer.commit(failing)).rejects.toMatchObject({
      code: 'STORE_CONFLICT',
      details: { storedAttempt: 1, attempt: 2 },
    })
    expect(() => writer.commitSync(failing)).toThrow(expect.objectContaining({ code: 'STORE_CONFLICT' }))
    for (const s of [writer, reader]) {
      expect(await s.getTasks(id)).toMatchObject([
        { state: 'PENDING', attempt: 0 },
        { state: 'PENDING', attempt: 0 },
      ])
      expect(await s.listEvents(id)).toEqual([])
    }
    expect(count('runs')).toBe(1)
    await writer.close()
    expect(await openStore().getTask(id, asTaskId('a'))).toMatchObject({ state: 'PENDING' })
  })

  it('waits busyTimeoutMs for another writer, then answers a retryable STORE_UNAVAILABLE', async () => {
    const store = SqliteStore.open({ path: file, busyTimeoutMs: 50 })
    open.push(store)
    const id = newRunId()
    const other = new Database(file)
    try {
      other.exec('BEGIN IMMEDIATE')
      const started = Date.now()
      let error: unknown
      try {
        store.commitSync({ ops: [createOp(id)], events: [] })
      } catch (e) {
        error = e
      }
      expect(Date.now() - started).toBeGreaterThanOrEqual(40)
      expect(error).toMatchObject({
        code: 'STORE_UNAVAILABLE',
        retryable: true,
        details: { sqliteCode: 'SQLITE_BUSY' },
      })
      other.exec('ROLLBACK')
    } finally {
      other.close()
    }
    await store.commit({ ops: [createOp(id)], events: [] })
    expect((await store.getRun(id))?.id).toBe(id)
  })

  it('turns on WAL and records its migrations once, in a file marked as a Flotilla store', async () => {
    await openStore().close()
    await openStore().close()
    openStore()
    expect(raw((db) => db.pragma('journal_mode', { simple: true }))).toBe('wal')
    const ledger = raw((db) =>
      db.prepare('SELECT version, name, applied_at FROM flotilla_migrations ORDER BY version').all(),
    )
    expect(ledger).toEqual(
      SQLITE_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: expect.any(Number) })),
    )
    expect(raw((db) => db.prepare("SELECT value FROM flotilla_meta WHERE key = 'store'").pluck().get())).toBe(
      'flotilla',
    )
  })

  it('stores a workflow definition once for many runs, and each distinct definition once', async () => {
    const store = openStore()
    const ops: StoreOp[] = []
    for (let i = 0; i < 1000; i++) ops.push(createOp(newRunId(), ['a']))
    ops.push(createOp(newRunId(), ['a'], { definition: structuredClone(DEFINITION) })) // equal, not the same object
    const other = newRunId()
    ops.push(createOp(other, ['a'], { definition: { name: 'other', tasks: [] } }))
    await store.commit({ ops, events: [] })
    expect(count('runs')).toBe(1002)
    expect(count('definitions')).toBe(2)
    expect((await store.getRun(other))?.definition).toEqual({ name: 'other', tasks: [] })
    expect(
      (await store.listRuns({ limit: 1000 })).every(
        (r) => r.id === other || JSON.stringify(r.definition) === JSON.stringify(DEFINITION),
      ),
    ).toBe(true)
  })

  it('stores an undefined output as NULL and refuses a value JSON cannot hold, writing nothing', async () => {
    const store = openStore()
    const id = newRunId()
    await store.commit({ ops: [createOp(id), start(id, 'a', 1), succeed(id, 'a', 1, undefined)], events: [] })
    expect(raw((db) => db.prepare('SELECT output FROM tasks WHERE task_id = ?').pluck().get('a'))).toBeNull()
    expect((await store.getTask(id, asTaskId('a')))?.output).toBeUndefined()
    await expect(
      store.commit({ ops: [start(id, 'b', 1), succeed(id, 'b', 1, { n: 10n })], events: [] }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    expect(await store.getTask(id, asTaskId('b'))).toMatchObject({ state: 'PENDING', attempt: 0 })
  })

  it('prunes finished runs with their tasks, events and no longer used definitions', async () => {
    const store = openStore()
    const old = newRunId(),
      oldOther = newRunId(),
      live = newRunId()
    await store.commit({
      ops: [
        createOp(old),
        createOp(oldOther, ['a'], { definition: { name: 'other' } }),
        createOp(live),
        { op: 'run.state', runId: old, state: 'SUCCEEDED', at: T0 + 10 },
        { op: 'run.state', runId: oldOther, state: 'CANCELLED', at: T0 + 10 },
      ],
      events: [log(old, 'x'), log(oldOther, 'y'), log(live, 'z')],
    })
    expect([count('runs'), count('tasks'), count('events'), count('definitions')]).toEqual([3, 5, 3, 2])
    expect(await store.pruneRuns(T0 + 100)).toBe(2)
    expect([count('runs'), count('tasks'), count('events'), count('definitions')]).toEqual([1, 2, 1, 1])
    expect((await store.getRun(live))?.definition).toEqual(DEFINITION)
    expect(await store.pruneRuns(T0 + 100)).toBe(0)
  })

  it('upgrades a store of schema version 1 to the agent tables, keeping its runs', async () => {
    const id = newRunId()
    raw((db) => {
      // The mark and the version table as Flotilla 0.1 made them (no domain column).
      db.exec(`CREATE TABLE flotilla_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE flotilla_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);`)
      db.prepare("INSERT INTO flotilla_meta (key, value) VALUES ('store', 'flotilla')").run()
      db.exec(SQLITE_MIGRATIONS[0].up)
      db.prepare('INSERT INTO flotilla_migrations (version, name, applied_at) VALUES (1, ?, ?)').run(
        SQLITE_MIGRATIONS[0].name,
        Date.now(),
      )
      db.prepare("INSERT INTO definitions (hash, body) VALUES ('h', '{}')").run()
      db.prepare(
        "INSERT INTO runs (id, workflow, workflow_hash, definition_hash, input, state, created_at) VALUES (?, 'wf', 'h', 'h', NULL, 'RUNNING', ?)",
      ).run(id, T0)
    })
    const store = openStore()
    expect(raw((db) => db.prepare('SELECT version FROM flotilla_migrations ORDER BY version').pluck().all())).toEqual(
      SQLITE_MIGRATIONS.map((m) => m.version),
    )
    expect(await store.getRun(id)).toMatchObject({ id, state: 'RUNNING', definition: {} })
    const indexes = raw((db) =>
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'agents' AND name NOT LIKE 'sqlite_%'",
        )
        .pluck()
        .all(),
    )
    expect(indexes).toEqual(expect.arrayContaining(['agents_by_parent', 'agents_by_state']))
    const agent = agentRecord()
    await store.saveAgent(agent, { from: null, to: 'PENDING', reason: null, at: T0 })
    expect(await store.getAgent(agent.id)).toEqual(agent)
  })

  it('stores agent records as rows of agents and agent_transitions, and prunes the transitions with their agent', async () => {
    const store = openStore()
    const agent = agentRecord({ spec: undefined, permissions: null })
    await store.saveAgent(agent, { from: null, to: 'PENDING', reason: null, at: T0 })
    await store.saveAgent(
      { ...agent, state: 'TERMINATED', reason: 'stopped', updatedAt: T0 + 5 },
      { from: 'PENDING', to: 'TERMINATED', reason: 'stopped', at: T0 + 5 },
    )
    expect(
      raw((db) => db.prepare('SELECT spec, permissions, state, reason FROM agents WHERE id = ?').get(agent.id)),
    ).toEqual({ spec: null, permissions: 'null', state: 'TERMINATED', reason: 'stopped' })
    expect([count('agents'), count('agent_transitions')]).toEqual([1, 2])
    expect(await store.pruneAgents(T0 + 6)).toBe(1)
    expect([count('agents'), count('agent_transitions')]).toEqual([0, 0])
  })

  it('checks its options with VALIDATION_FAILED naming the field', () => {
    const bad = (options: unknown): unknown => {
      try {
        SqliteStore.open(options as Parameters<typeof SqliteStore.open>[0])
      } catch (e) {
        return e
      }
      return undefined
    }
    expect(bad({ path: '' })).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'path' } })
    expect(bad({ path: file, synchronous: 'OFF; DROP TABLE runs' })).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'synchronous' },
    })
    expect(bad({ path: file, busyTimeoutMs: -1 })).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'busyTimeoutMs' },
    })
    expect(existsSync(file)).toBe(false)
    expect(openStore(file)).toBeInstanceOf(SqliteStore)
    open.push(SqliteStore.open({ path: file, synchronous: 'FULL', busyTimeoutMs: 0 }))
  })

  describe('bad files', () => {
    it('refuses an SQLite database of another program with STORE_NOT_FLOTILLA and leaves it byte-identical', () => {
      raw((db) => {
        db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada')")
      })
      const before = readFileSync(file)
      expect(() => openStore()).toThrow(
        expect.objectContaining({ code: 'STORE_NOT_FLOTILLA', message: expect.stringContaining('users') }),
      )
      expect(readFileSync(file).equals(before)).toBe(true)
      expect(raw((db) => db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all())).toEqual([
        'users',
      ])
    })

    it('refuses a file that is not SQLite at all, leaving it byte-identical', () => {
      const bytes = randomBytes(8192)
      writeFileSync(file, bytes)
      expect(() => openStore()).toThrow(expect.objectContaining({ code: 'STORE_NOT_FLOTILLA' }))
      expect(readFileSync(file).equals(bytes)).toBe(true)
      expect(existsSync(`${file}-wal`)).toBe(false)
    })

    it('refuses a store written by a newer schema version with STORE_SCHEMA_TOO_NEW, naming both versions', async () => {
      await openStore().close()
      const known = SQLITE_MIGRATIONS.length
      raw((db) =>
        db
          .prepare("INSERT INTO flotilla_migrations (domain, version, name, applied_at) VALUES ('store', ?, ?, ?)")
          .run(known + 41, 'from the future', Date.now()),
      )
      let error: unknown
      try {
        openStore()
      } catch (e) {
        error = e
      }
      expect(error).toMatchObject({
        code: 'STORE_SCHEMA_TOO_NEW',
        details: { domain: 'store', storedVersion: known + 41, supportedVersion: known },
      })
      expect((error as Error).message).toContain(`${known + 41}`)
      expect((error as Error).message).toContain(`up to ${known}`)
    })

    it('answers STORE_UNAVAILABLE for a path that is a folder', () => {
      const folder = join(dir, 'folder.db')
      mkdirSync(folder)
      expect(() => openStore(folder)).toThrow(
        expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('folder') }),
      )
    })

    it('answers STORE_UNAVAILABLE when the parent folder cannot be created', () => {
      writeFileSync(join(dir, 'plain-file'), 'x')
      expect(() => openStore(join(dir, 'plain-file', 'sub', 'flotilla.db'))).toThrow(
        expect.objectContaining({ code: 'STORE_UNAVAILABLE' }),
      )
    })

    it('creates the missing folders of a new store', async () => {
      const nested = join(dir, 'a', 'b', '.flotilla', 'flotilla.db')
      const store = openStore(nested)
      const id = newRunId()
      await store.commit({ ops: [createOp(id)], events: [] })
      expect(existsSync(nested)).toBe(true)
      expect((await store.getRun(id))?.id).toBe(id)
    })
  })
})
