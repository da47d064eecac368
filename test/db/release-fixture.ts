/**
 * The databases written by Flotilla 0.1.0 (test/fixtures/release-0.1.0: an
 * SQLite dump and pg_dumps, made by write.mjs there), and what they hold, so
 * the upgrade tests can load one, open it with this code and read it back.
 */
import { asAgentId } from '../../src/core/ids.js'
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { expect } from 'vitest'
import type { ContextBackend } from '../../src/context/backend.js'
import { ContextStore } from '../../src/context/context-store.js'
import { asRunId, asTaskId } from '../../src/core/ids.js'
import type { Store } from '../../src/store/store.js'
import { withClient } from '../helpers/postgres.js'

const FIXTURES = new URL('../fixtures/release-0.1.0/', import.meta.url)

/** The one run of the fixture, its tasks and its times. */
export const RELEASE = {
  runId: asRunId('run_release_fixture'),
  agentId: 'agt_release_fixture',
  t0: Date.UTC(2026, 0, 1),
  /** The schemas the pg_dumps were taken of (renamed on load). */
  schema: 'flotilla_release_fixture',
  busOnlySchema: 'flotilla_release_bus_fixture',
} as const

/** Writes the SQLite file of release 0.1.0 at `path` (from its `.dump`). */
export function loadSqliteRelease(path: string): void {
  const db = new Database(path)
  try {
    db.exec(readFileSync(new URL('sqlite.sql', FIXTURES), 'utf8'))
  } finally {
    db.close()
  }
}

/**
 * Creates `schema` as release 0.1.0 left it: with the store, context and bus
 * (`postgres.sql`), or with only a bus opened on a new schema (`postgres-bus-only.sql`).
 */
export async function loadPostgresRelease(schema: string, which: 'full' | 'bus-only' = 'full'): Promise<void> {
  const file = which === 'full' ? 'postgres.sql' : 'postgres-bus-only.sql'
  const from = which === 'full' ? RELEASE.schema : RELEASE.busOnlySchema
  const dump = readFileSync(new URL(file, FIXTURES), 'utf8').replaceAll(from, schema)
  await withClient((c) => c.query(dump))
}

/** Checks that `store` holds the run, tasks, events and agent release 0.1.0 wrote. */
export async function expectReleaseRuns(store: Store): Promise<void> {
  const { runId, t0 } = RELEASE
  expect(await store.getRun(runId)).toMatchObject({
    id: runId,
    workflow: 'release',
    state: 'RUNNING',
    input: { topic: 'cats' },
    createdAt: t0,
    definition: { name: 'release' },
  })
  const tasks = await store.getTasks(runId)
  expect(tasks.map((t) => [t.taskId, t.state, t.attempt])).toEqual([
    ['fetch', 'SUCCEEDED', 1],
    ['summarize', 'RUNNING', 1],
  ])
  // Tasks written before the model-spend column have none.
  expect(tasks.map((t) => t.model)).toEqual([undefined, undefined])
  expect((await store.getTask(runId, asTaskId('fetch')))?.output).toEqual({ pages: 3, text: 'héllo \u0000-free' })
  expect((await store.listEvents(runId)).map((e) => [e.seq, e.event.type])).toEqual([
    [1, 'run.started'],
    [2, 'task.log'],
  ])
  expect(await store.getAgent(asAgentId(RELEASE.agentId))).toMatchObject({
    name: 'writer',
    state: 'RUNNING',
    pid: 4242,
  })
  expect((await store.listAgentTransitions(asAgentId(RELEASE.agentId))).map((t) => t.reason)).toEqual(['deployed'])
}

/** Checks that `backend` holds the artifacts (two versions of one, bytes of another) and the cache entry. */
export async function expectReleaseContext(backend: ContextBackend): Promise<void> {
  const ctx = new ContextStore(backend)
  const report = await ctx.get('writer', 'report')
  expect(report).toMatchObject({ version: 2, content: { draft: 2 }, metadata: { lang: 'en' }, tags: ['final'] })
  expect((await ctx.get('writer', 'report', { version: 1 })).content).toEqual({ draft: 1 })
  expect((await ctx.history('writer', 'report')).map((v) => v.version)).toEqual([1, 2])
  expect((await ctx.get('writer', 'logo')).content).toEqual(new Uint8Array([137, 80, 78, 71]))
  expect(await ctx.getShared('writer', 'search:cats')).toEqual(['a', 'b'])
}

const spent = {
  calls: 2,
  replayed: 1,
  inputTokens: 120,
  outputTokens: 30,
  reasoningTokens: 5,
  cachedInputTokens: 40,
  costUsd: 0.0031,
}

/** Checks that the stores keep working after the upgrade: a new run and a new artifact version. */
export async function expectWritable(store: Store, backend: ContextBackend): Promise<void> {
  const { runId, t0 } = RELEASE
  await store.commit({
    ops: [
      {
        op: 'task.succeed',
        runId,
        taskId: asTaskId('summarize'),
        attempt: 1,
        output: 'done',
        at: t0 + 9,
        model: spent,
      },
    ],
    events: [],
  })
  // The upgraded tasks table takes a task's model spend with its result.
  expect(await store.getTask(runId, asTaskId('summarize'))).toMatchObject({ state: 'SUCCEEDED', model: spent })
  const next = await new ContextStore(backend).put('writer', 'report', { draft: 3 }, { basedOn: 2 })
  expect(next.version).toBe(3)
}
