import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { defineTool } from '../../src/agents/tools.js'
import { asRunId } from '../../src/core/ids.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Client } from '../../src/orchestrator/client.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { workflow } from '../../src/workflows/builder.js'
import { memoryTracer, named, parentOf } from '../helpers/memory-tracer.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

// Tool-call and store-commit spans, with OpenTelemetry's in-memory exporter.

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-spans-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const add = defineTool({ name: 'add', input: z.object({ a: z.number(), b: z.number() }), run: ({ a, b }) => a + b })
const broken = defineTool({
  name: 'broken',
  input: z.object({}),
  run: () => {
    throw Object.assign(new Error('the disk is full'), { code: 'DISK_FULL' })
  },
})

describe('tool call spans', () => {
  it('each tool call is an execute_tool span under its attempt, with its name, call id and error', async () => {
    const { tracer, exporter } = memoryTracer()
    const o = new Orchestrator({ store: 'memory', telemetry: { tracer } })
    const model = scriptedModel([
      {
        toolCalls: [
          { name: 'add', input: { a: 1, b: 2 } },
          { name: 'broken', input: {} },
        ],
      },
      { text: 'the sum is 3' },
    ])
    await o.register(defineLlmAgent({ name: 'calculator', model, tools: [add, broken] }))
    try {
      const result = await o.run(workflow('tools').task('t', { agent: 'calculator', input: 'add' }).build())
      expect(result.state).toBe('SUCCEEDED')
      await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === 'flotilla.run')).toBe(true)
      const spans = exporter.getFinishedSpans()
      const task = named(spans, 'flotilla.task', 't')
      const ok = named(spans, 'execute_tool add')
      const failed = named(spans, 'execute_tool broken')
      expect([parentOf(ok), parentOf(failed)]).toEqual([task.spanContext().spanId, task.spanContext().spanId])
      expect(ok.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'add' })
      expect(ok.attributes['gen_ai.tool.call.id']).toMatch(/\S/)
      expect(ok.attributes['gen_ai.tool.call.id']).not.toBe(failed.attributes['gen_ai.tool.call.id'])
      expect(ok.status.code).toBe(1)
      expect(failed.status).toEqual({ code: 2, message: 'the disk is full' })
      expect(failed.attributes['error.type']).toBe('TASK_FAILED') // the tool box's code for a tool that threw
      expect(failed.events.map((e) => e.name)).toEqual(['exception'])
      expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1)
    } finally {
      await o.close()
    }
  })

  it('without a tracer the tools run as before and nothing is traced', async () => {
    const o = new Orchestrator({ store: 'memory' })
    const model = scriptedModel([{ toolCalls: [{ name: 'add', input: { a: 2, b: 2 } }] }, { text: 'four' }])
    await o.register(defineLlmAgent({ name: 'calculator', model, tools: [add] }))
    try {
      const result = await o.run(workflow('tools').task('t', { agent: 'calculator', input: 'add' }).build())
      expect(result.output('t')).toBe('four')
    } finally {
      await o.close()
    }
  })
})

describe('store commit spans (SQLite)', () => {
  it('an embedded run on a SQLite file: its commits are spans under the run, none without a tracer', async () => {
    const { tracer, exporter } = memoryTracer()
    const store = SqliteStore.open({ path: join(dir, 'embedded.db') })
    const o = new Orchestrator({ store, telemetry: { tracer } })
    expect(store.commits.active).toBe(true)
    await o.register(defineAgent({ name: 'double', handler: (n: number) => n * 2 }))
    const result = await o.run(
      workflow('committed')
        .task('a', { agent: 'double', input: 1 })
        .task('b', { agent: 'double', input: 2, dependsOn: ['a'] })
        .build(),
    )
    expect(result.state, JSON.stringify(result.error)).toBe('SUCCEEDED')
    await o.close()
    expect(store.commits.active).toBe(false) // closing the orchestrator stops watching the store
    const spans = exporter.getFinishedSpans()
    const run = named(spans, 'flotilla.run')
    const commits = spans.filter((s) => s.name === 'flotilla.store.commit')
    // At least the run's creation, the tasks' starts and ends, and the run's end.
    expect(commits.length).toBeGreaterThanOrEqual(3)
    for (const c of commits) {
      expect(c.attributes).toMatchObject({
        'db.system.name': 'sqlite',
        'db.operation.name': 'commit',
        'flotilla.run_id': result.runId,
        'flotilla.store.runs': 1,
      })
      expect(c.spanContext().traceId).toBe(run.spanContext().traceId)
      expect(parentOf(c)).toBe(run.spanContext().spanId)
      expect(c.status.code).toBe(1)
    }
    expect(commits.reduce((n, c) => n + Number(c.attributes['flotilla.store.events']), 0)).toBeGreaterThanOrEqual(6)

    // The file again with an untraced orchestrator: no observer, no span.
    const before = exporter.getFinishedSpans().length
    const again = SqliteStore.open({ path: join(dir, 'embedded.db') })
    const plain = new Orchestrator({ store: again })
    expect(again.commits.active).toBe(false)
    await plain.register(defineAgent({ name: 'double', handler: (n: number) => n * 2 }))
    const quiet = await plain.run(workflow('quiet').task('a', { agent: 'double', input: 3 }).build())
    expect(quiet.state, JSON.stringify(quiet.error)).toBe('SUCCEEDED')
    await plain.close()
    expect(exporter.getFinishedSpans().length).toBe(before)
  })

  it('a refused commit is an error span with the error code', async () => {
    const { tracer, exporter } = memoryTracer()
    const store = SqliteStore.open({ path: join(dir, 'refused.db') })
    const client = await Client.connect(store, { tracer })
    try {
      await expect(
        store.commit({
          ops: [{ op: 'run.state', runId: asRunId('run_nope'), state: 'FAILED', at: 1 }],
          events: [],
        }),
      ).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
      const span = named(exporter.getFinishedSpans(), 'flotilla.store.commit')
      expect(span.status.code).toBe(2)
      expect(span.attributes).toMatchObject({ 'error.type': 'RUN_NOT_FOUND', 'flotilla.run_id': 'run_nope' })
      expect(span.parentSpanContext).toBeUndefined() // a run nobody traced here: a root span
    } finally {
      await client.close()
      await store.close()
    }
  })
})

await describePostgres('store commit spans (PostgreSQL): a client and a worker', () => {
  it('the run span, the worker task spans, its commits and group commits of results make one trace', async () => {
    await withFreshSchema(async (url) => {
      const { tracer, exporter } = memoryTracer()
      const store = await openStoreAsync(url)
      const worker = new Worker({ store, id: 'w-pg', telemetry: { tracer }, leaseMs: 3_000, pollMs: 20 })
      await worker.register(defineAgent({ name: 'inc', handler: (n: number) => n + 1 }))
      await worker.start()
      const client = await Client.connect(url, { tracer }) // its own connection, as another process would
      try {
        const id = await client.start(
          workflow('pg-traced')
            .task('a', { agent: 'inc', input: 1 })
            .task('b', { agent: 'inc', input: 2 })
            .task('c', { agent: 'inc', input: 3, dependsOn: ['a', 'b'] })
            .build(),
        )
        expect((await client.result(id, { timeoutMs: 30_000 })).state).toBe('SUCCEEDED')
        await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === 'flotilla.run')).toBe(true)
        const spans = exporter.getFinishedSpans()
        const run = named(spans, 'flotilla.run')
        const traceId = run.spanContext().traceId
        for (const t of ['a', 'b', 'c']) expect(named(spans, 'flotilla.task', t).spanContext().traceId).toBe(traceId)
        const commits = spans.filter(
          (s) => s.name === 'flotilla.store.commit' && s.attributes['flotilla.run_id'] === id,
        )
        expect(commits.every((c) => c.attributes['db.system.name'] === 'postgresql')).toBe(true)
        const completes = commits.filter((c) => c.attributes['db.operation.name'] === 'complete')
        expect(completes.reduce((n, c) => n + Number(c.attributes['flotilla.store.ops']), 0)).toBe(3)
        expect(commits.some((c) => c.attributes['db.operation.name'] === 'commit')).toBe(true)
        for (const c of commits) {
          expect(c.spanContext().traceId).toBe(traceId)
          expect(parentOf(c)).toBe(run.spanContext().spanId)
        }
      } finally {
        await worker.stop({ drainMs: 100 })
        await client.close()
        await store.close()
      }
    })
  }, 60_000)
})
