import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { ref, workflow } from '../../src/workflows/builder.js'

const double = defineAgent({
  name: 'double',
  version: '1.2.0',
  capabilities: ['math'],
  input: z.object({ n: z.number() }),
  handler: async ({ n }) => ({ n: n * 2 }),
})
const sum = defineAgent({
  name: 'sum',
  input: z.object({ parts: z.array(z.number()) }),
  handler: async ({ parts }) => parts.reduce((a, b) => a + b, 0),
})
const flaky = defineAgent({
  name: 'flaky',
  handler: async (_: unknown, ctx) => {
    if (ctx.attempt < 2) throw new Error('first attempt fails')
    return { attempt: ctx.attempt, key: ctx.idempotencyKey }
  },
})
const broken = defineAgent({
  name: 'broken',
  handler: async () => {
    throw new Error('always')
  },
})
const backup = defineAgent({ name: 'backup', handler: async () => 'from backup' })

function wf() {
  return workflow('dist')
    .task('a', { agent: 'double', input: { n: 1 } })
    .task('b', { agent: 'double', version: '^1.0.0', input: { n: ref('a', 'n') } })
    .task('c', { capability: 'math', input: { n: 10 } })
    .task('d', { agent: 'sum', input: { parts: [ref('b', 'n'), ref('c', 'n')] } })
    .task('e', { agent: 'flaky', retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 } })
    .task('f', { agent: 'broken', fallback: 'backup' })
    .task('g', { agent: 'sum', input: { parts: [1] }, when: 'tasks.d.output > 1000' })
    .build()
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function workers(store: Store, n: number): Promise<Worker[]> {
  const out: Worker[] = []
  for (let k = 0; k < n; k++) {
    const w = new Worker({ store, id: `w${k}`, leaseMs: 3000, pollMs: 20 })
    for (const a of [double, sum, flaky, broken, backup]) await w.register(a)
    await w.start()
    cleanups.push(() => w.stop({ drainMs: 1000 }))
    out.push(w)
  }
  return out
}

for (const kind of ['memory', 'sqlite'] as const) {
  describe(`workers on ${kind}`, () => {
    function open(): Store {
      if (kind === 'memory') return new MemoryStore()
      const dir = mkdtempSync(join(tmpdir(), 'flotilla-workers-'))
      const store = SqliteStore.open({ path: join(dir, 'w.db') })
      cleanups.push(async () => {
        await store.close()
        rmSync(dir, { recursive: true, force: true })
      })
      return store
    }

    it('two workers finish a run submitted by a client: references, versions, capabilities, retries, fallback, conditions', async () => {
      const store = open()
      const [w0] = await workers(store, 2)
      const events: FlotillaEvent[] = []
      w0.on('*', (e) => events.push(e))
      const client = await Client.connect(store)
      const runId = await client.start(wf())
      const run = await client.result(runId, { timeoutMs: 10_000 })
      expect(run.state).toBe('SUCCEEDED')
      const tasks = Object.fromEntries((await client.getTasks(runId)).map((t) => [t.taskId, t]))
      expect(tasks.a.output).toEqual({ n: 2 })
      expect(tasks.b).toMatchObject({ state: 'SUCCEEDED', output: { n: 4 }, agent: 'double@1.2.0' })
      expect(tasks.c.output).toEqual({ n: 20 })
      expect(tasks.d.output).toBe(24)
      expect(tasks.e).toMatchObject({
        state: 'SUCCEEDED',
        attempt: 2,
        output: { attempt: 2, key: `${runId}:e` },
        error: undefined,
      })
      expect(tasks.f).toMatchObject({ state: 'SUCCEEDED', output: 'from backup' })
      expect(tasks.g.state).toBe('SKIPPED')
      const types = (await client.listEvents(runId)).map((e) => e.event.type)
      expect(types[0]).toBe('run.started')
      expect(types.at(-1)).toBe('run.succeeded')
      expect(types.filter((t) => t === 'task.succeeded')).toHaveLength(6)
      expect(types).toContain('task.retrying')
    })

    it('a run waiting for an agent no worker has says so, and finishes once a worker with it starts', async () => {
      const store = open()
      await workers(store, 1)
      const client = await Client.connect(store)
      const late = defineAgent({ name: 'late', handler: async () => 'here' })
      const spec = workflow('wait').task('x', { agent: 'late' }).build()
      expect(await client.unserved(spec)).toEqual([{ taskId: 'x', needs: 'agent "late"' }])
      const runId = await client.start(spec)
      await expect
        .poll(async () => (await client.listEvents(runId)).map((e) => e.event.type), { timeout: 5000 })
        .toContain('run.waiting')
      const w = new Worker({ store, id: 'late-worker', leaseMs: 3000, pollMs: 20 })
      await w.register(late)
      await w.start()
      cleanups.push(() => w.stop())
      expect((await client.result(runId, { timeoutMs: 10_000 })).state).toBe('SUCCEEDED')
    })

    it('pause from a client stops new starts; resume goes on; cancel aborts running handlers', async () => {
      const store = open()
      let aborted = 0
      const slow = defineAgent({
        name: 'slow',
        handler: (_: unknown, ctx) =>
          new Promise((resolve, reject) => {
            const t = setTimeout(() => resolve('done'), 1500)
            ctx.signal.addEventListener('abort', () => {
              clearTimeout(t)
              aborted++
              reject(ctx.signal.reason)
            })
          }),
      })
      const w = new Worker({ store, id: 'pw', leaseMs: 600, pollMs: 20, concurrency: 1 })
      await w.register(slow)
      await w.start()
      cleanups.push(() => w.stop({ drainMs: 100 }))
      const client = await Client.connect(store)
      const tasks = Array.from({ length: 6 }, (_, i) => ({
        id: `t${i}`,
        agent: 'slow',
        ...(i > 0 ? { dependsOn: [`t${i - 1}`] } : {}),
      }))
      const runId = await client.start({ name: 'chain', tasks })
      await expect
        .poll(async () => (await client.getTasks(runId)).filter((t) => t.state === 'RUNNING').length, { timeout: 5000 })
        .toBe(1)
      await client.pause(runId)
      await expect
        .poll(async () => (await client.getTasks(runId)).filter((t) => t.state === 'SUCCEEDED').length, {
          timeout: 5000,
        })
        .toBe(1)
      const frozen = (await client.getTasks(runId)).filter(
        (t) => t.state === 'SUCCEEDED' || t.state === 'RUNNING',
      ).length
      await new Promise((r) => setTimeout(r, 600))
      expect(
        (await client.getTasks(runId)).filter((t) => t.state === 'SUCCEEDED' || t.state === 'RUNNING').length,
      ).toBe(frozen)
      await client.resume(runId)
      await expect
        .poll(async () => (await client.getTasks(runId)).filter((t) => t.state === 'RUNNING').length, { timeout: 5000 })
        .toBe(1)
      await client.cancel(runId)
      await expect.poll(() => aborted, { timeout: 1400 }).toBe(1)
      expect((await client.getRun(runId)).state).toBe('CANCELLED')
    })

    it('a timed-out handler that ignores its signal keeps its slot until it returns (peak 1 with maxConcurrency 1)', async () => {
      const store = open()
      const seen = { running: 0, peak: 0 }
      const stubborn = defineAgent({
        name: 'stubborn',
        maxConcurrency: 1,
        handler: async () => {
          seen.running++
          seen.peak = Math.max(seen.peak, seen.running)
          await new Promise((r) => setTimeout(r, 150)) // ignores ctx.signal on purpose
          seen.running--
          return 'late'
        },
      })
      const w = new Worker({ store, id: 'tw', leaseMs: 3000, pollMs: 10, concurrency: 4 })
      await w.register(stubborn)
      await w.start()
      cleanups.push(() => w.stop({ drainMs: 1000 }))
      const client = await Client.connect(store)
      const spec = workflow('late')
      for (let k = 0; k < 3; k++) spec.task(`t${k}`, { agent: 'stubborn', timeoutMs: 20, continueOnFailure: true })
      const runId = await client.start(spec.build())
      await expect.poll(() => w.registry.metrics()['stubborn@1.0.0'].lateHandlers, { timeout: 3000 }).toBe(1)
      await client.result(runId, { timeoutMs: 10_000 })
      expect((await client.getTasks(runId)).map((t) => t.error?.code)).toEqual([
        'TASK_TIMEOUT',
        'TASK_TIMEOUT',
        'TASK_TIMEOUT',
      ])
      await expect.poll(() => w.registry.metrics()['stubborn@1.0.0'].lateHandlers, { timeout: 3000 }).toBe(0)
      expect(seen.peak).toBe(1)
    })
  })
}

describe('Worker options', () => {
  it('refuses to start without agents (WORKER_NO_AGENTS) and a lease too short for heartbeats (VALIDATION_FAILED)', async () => {
    await expect(new Worker({ store: new MemoryStore() }).start()).rejects.toMatchObject({ code: 'WORKER_NO_AGENTS' })
    expect(() => new Worker({ leaseMs: 50 })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
  })
})
