import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { asTaskId, newAgentId, newRunId, type RunId } from '../../src/core/ids.js'
import { arrayOf, isJsonObject, isStringArray, jsonColumn, orNull } from '../../src/db/json-column.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { AgentRecord, StoreOp } from '../../src/store/records.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'

describe('jsonColumn', () => {
  const TAGS = jsonColumn('things.tags', isStringArray, 'an array of strings')

  it('encodes undefined as SQL NULL and decodes it back as undefined', () => {
    expect(TAGS.encode(undefined)).toBeNull()
    expect(TAGS.decode(null)).toBeUndefined()
    expect(TAGS.encode(['a'])).toBe('["a"]')
    expect(TAGS.decode('["a","b"]')).toEqual(['a', 'b'])
  })

  it('refuses text that is not JSON, or not of the shape, with STORE_CORRUPT naming the column and the row', () => {
    expect(() => TAGS.decode('[1, 2]', 'thing 7')).toThrow(
      expect.objectContaining({ code: 'STORE_CORRUPT', details: { column: 'things.tags', key: 'thing 7' } }),
    )
    expect(() => TAGS.decode('{not json')).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }))
    expect(() => TAGS.decodeRequired(null, 'thing 8')).toThrow(/things\.tags of thing 8 is missing/)
  })

  it('composes shapes: orNull and arrayOf', () => {
    const column = jsonColumn('t.c', orNull(arrayOf(isJsonObject)), 'objects or null')
    expect(column.decode('null')).toBeNull()
    expect(column.decode('[{},{"a":1}]')).toEqual([{}, { a: 1 }])
    expect(column.accepts([1])).toBe(false)
  })
})

const T0 = Date.UTC(2026, 0, 1)

function createRun(id: RunId): StoreOp {
  return {
    op: 'run.create',
    run: {
      id,
      workflow: 'wf',
      workflowHash: 'h'.repeat(64),
      definition: { name: 'wf', tasks: [{ id: 'a', agent: 'x' }] },
      input: null,
      state: 'RUNNING',
      createdAt: T0,
      startedAt: T0,
      finishedAt: undefined,
      error: undefined,
      parentRunId: undefined,
    },
    tasks: [
      {
        runId: id,
        taskId: asTaskId('a'),
        state: 'PENDING',
        attempt: 0,
        agent: undefined,
        priority: 'MEDIUM',
        idempotencyKey: `${id}:a`,
        startedAt: undefined,
        finishedAt: undefined,
        output: undefined,
        error: undefined,
      },
    ],
  }
}

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

describe('typed JSON columns of the SQLite store', () => {
  let dir: string
  let path: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-json-column-'))
    path = join(dir, 'flotilla.db')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('reads back a row changed outside Flotilla as STORE_CORRUPT naming the column, not as a mistyped value', async () => {
    const store = SqliteStore.open({ path })
    const id = newRunId()
    await store.commit({ ops: [createRun(id)], events: [{ type: 'run.started', runId: id, at: T0 } as never] })
    const agent = agentRecord()
    await store.saveAgent(agent, { from: null, to: 'PENDING', reason: 'deploy', at: T0 })
    const db = new Database(path)
    db.prepare(`UPDATE tasks SET error = '{"oops":true}' WHERE run_id = ?`).run(id)
    db.prepare(`UPDATE agents SET limits = '[1]' WHERE id = ?`).run(agent.id)
    db.prepare(`UPDATE events SET body = '[{"no":"type"}]'`).run()
    db.close()
    await expect(store.getTasks(id)).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
      details: { column: 'tasks.error', key: `${id}/a` },
    })
    await expect(store.getAgent(agent.id)).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
      details: { column: 'agents.limits', key: agent.id },
    })
    await expect(store.listEvents(id)).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
      details: { column: 'events.body' },
    })
    await store.close()
  })

  it('refuses to save agent fields of the wrong shape (VALIDATION_FAILED), on every adapter, writing nothing', async () => {
    for (const store of [SqliteStore.open({ path }), new MemoryStore()]) {
      const bad = agentRecord({ limits: [64] as never })
      await expect(store.saveAgent(bad, { from: null, to: 'PENDING', reason: null, at: T0 })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'limits' },
      })
      expect(await store.getAgent(bad.id)).toBeUndefined()
      await store.close()
    }
  })
})
