import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineAgentTemplate } from '../../src/agents/agent-template.js'
import { definePlannerAgent } from '../../src/workflows/planner.js'
import { Client } from '../../src/orchestrator/client.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { controlStoredRun } from '../../src/orchestrator/stored-control.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { systemClock } from '../../src/core/clock.js'
import type { RunId } from '../../src/core/ids.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import { childWorkflow } from '../../src/workflows/child-plan.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'
import { workflow } from '../../src/workflows/builder.js'

// Plans returned by tasks on workers run as child runs on the workers (SQLite file store, workers in-process).

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

function sqlite(): SqliteStore {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-wchild-'))
  const store = SqliteStore.open({ path: join(dir, 'w.db') })
  cleanups.push(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return store
}

const echo = defineAgent({ name: 'echo', handler: (x: unknown) => x })
const helper = defineAgentTemplate({ name: 'helper', model: scriptedModel([{ text: 'done' }], { repeatLast: true }) })

async function worker(
  store: SqliteStore,
  id: string,
  agents: Parameters<Worker['register']>[0][],
  options: { stop?: boolean } = {},
): Promise<Worker> {
  const w = new Worker({ store, id, leaseMs: 1200, pollMs: 20 })
  w.registry.templates.register(helper)
  for (const a of agents) await w.register(a)
  await w.start()
  if (options.stop !== false) cleanups.push(() => w.stop({ drainMs: 0 }))
  return w
}

/** Polls until `check` holds (10 s at most). */
async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('plans on workers', () => {
  it('a task returning a plan waits for it as a child run on the workers and takes its outputs', async () => {
    const store = sqlite()
    const fanOut = defineAgent({
      name: 'fan-out',
      handler: (topics: string[]) =>
        childWorkflow(
          {
            name: 'team',
            tasks: [
              ...topics.map((t) => ({ id: t, agent: 'echo', input: `topic ${t}` })),
              { id: 'h', agent: 'x', input: 'go', dependsOn: topics },
            ],
          },
          { agents: { x: { template: 'helper' } } },
        ),
    })
    await worker(store, 'w0', [echo, fanOut])
    await worker(store, 'w1', [echo, fanOut])
    const client = await Client.connect(store)
    const runId = await client.start(
      workflow('plan-on-worker')
        .task('p', { agent: 'fan-out', input: ['a', 'b'] })
        .build(),
    )
    const run = await client.result(runId, { timeoutMs: 10_000 })
    expect(run.state).toBe('SUCCEEDED')
    const [task] = await client.getTasks(runId)
    expect(task).toMatchObject({ state: 'SUCCEEDED', output: { a: 'topic a', b: 'topic b', h: 'done' } })
    const children = await client.listRuns({ parentRunId: runId })
    expect(children.map((c) => [c.id, c.workflow, c.parentTaskId, c.state])).toEqual([
      [`${runId}.p`, 'team', 'p', 'SUCCEEDED'],
    ])
    const childTasks = await client.getTasks(`${runId}.p`)
    expect(childTasks.map((t) => [t.taskId, t.state])).toEqual([
      ['a', 'SUCCEEDED'],
      ['b', 'SUCCEEDED'],
      ['h', 'SUCCEEDED'],
    ])
  })

  it("client.replay(run, { children: 'rerun' }) plans again on the workers: a new child run under the new run", async () => {
    const store = sqlite()
    let plans = 0
    const fanOut = defineAgent({
      name: 'fan-out',
      handler: () => childWorkflow({ name: 'team', tasks: [{ id: 'a', agent: 'echo', input: `plan ${++plans}` }] }),
    })
    await worker(store, 'w0', [echo, fanOut])
    const client = await Client.connect(store)
    const runId = await client.start(workflow('r').task('p', { agent: 'fan-out' }).build())
    expect((await client.result(runId, { timeoutMs: 10_000 })).state).toBe('SUCCEEDED')
    const again = await client.replay(runId, { children: 'rerun' })
    expect((await client.result(again, { timeoutMs: 10_000 })).state).toBe('SUCCEEDED')
    expect((await client.getTasks(again))[0]?.output).toEqual({ a: 'plan 2' })
    expect((await client.listRuns({ parentRunId: again })).map((c) => [c.id, c.parentTaskId])).toEqual([
      [`${again}.p`, 'p'],
    ])
  })

  it('a planner agent plans specialists from templates, run on the worker that spawned them', async () => {
    const store = sqlite()
    const plan = { tasks: [{ id: 'facts', specialty: 'helper', prompt: 'Find facts.' }] }
    const planner = definePlannerAgent({
      name: 'coordinator',
      model: scriptedModel([{ object: plan }]),
      templates: ['helper'],
    })
    await worker(store, 'w0', [echo, planner])
    const client = await Client.connect(store)
    const runId = await client.start(workflow('q').task('plan', { agent: 'coordinator', input: 'Why?' }).build())
    expect((await client.result(runId, { timeoutMs: 10_000 })).state).toBe('SUCCEEDED')
    expect((await client.getTasks(runId))[0]?.output).toEqual({ facts: 'done' })
    expect((await client.listRuns({ parentRunId: runId })).map((c) => c.parentTaskId)).toEqual(['plan'])
  })

  it('ctx.spawn({ template }) on a worker runs the spawned agent as a one-task child run', async () => {
    const store = sqlite()
    const lead = defineAgent({
      name: 'lead',
      handler: async (q: string, ctx) => (await ctx.spawn({ template: 'helper' })).execute(q),
    })
    await worker(store, 'w0', [lead])
    const client = await Client.connect(store)
    const runId = await client.start(workflow('spawn-on-worker').task('p', { agent: 'lead', input: 'q' }).build())
    expect((await client.result(runId, { timeoutMs: 10_000 })).state).toBe('SUCCEEDED')
    expect((await client.getTasks(runId))[0]?.output).toBe('done')
    const children = await client.listRuns({ parentRunId: runId })
    expect(children.map((c) => [c.parentTaskId, c.state])).toEqual([['p', 'SUCCEEDED']])
  })

  it('a failed child run fails the planning task with CHILD_RUN_FAILED', async () => {
    const store = sqlite()
    const broken = defineAgent({
      name: 'broken',
      handler: () => {
        throw new Error('nope')
      },
    })
    const planner = defineAgent({
      name: 'planner',
      handler: () => childWorkflow({ name: 'bad', tasks: [{ id: 'x', agent: 'broken', retry: { maxAttempts: 1 } }] }),
    })
    await worker(store, 'w0', [broken, planner])
    const client = await Client.connect(store)
    const runId = await client.start(
      workflow('f')
        .task('p', { agent: 'planner', retry: { maxAttempts: 1 } })
        .build(),
    )
    expect((await client.result(runId, { timeoutMs: 10_000 })).state).toBe('FAILED')
    expect((await client.getTasks(runId))[0]?.error).toMatchObject({ code: 'CHILD_RUN_FAILED' })
    expect((await client.getRun(`${runId}.p`)).state).toBe('FAILED')
  })
})

describe('cancelling the parent run of a child run on workers', () => {
  const blocked = new Set<string>()
  const blocker = defineAgent({
    name: 'blocker',
    handler: async (key: string, ctx) => {
      blocked.add(key)
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
      blocked.delete(key)
      throw ctx.signal.reason
    },
  })
  const planner = defineAgent({
    name: 'planner',
    handler: (key: string) => childWorkflow({ name: 'slow', tasks: [{ id: 'x', agent: 'blocker', input: key }] }),
  })

  for (const via of ['Client.cancel', 'a cancel written to the parent only'] as const)
    it(`cancels the child run (${via})`, async () => {
      const store = sqlite()
      await worker(store, 'w0', [blocker, planner])
      const client = await Client.connect(store)
      const runId = await client.start(workflow('c').task('p', { agent: 'planner', input: via }).build())
      await until(() => blocked.has(via))
      if (via === 'Client.cancel') await client.cancel(runId, 'enough')
      else await controlStoredRun(store, await client.getRun(runId), 'cancel', systemClock, 'enough')
      const child = await client.result(`${runId}.p`, { timeoutMs: 10_000 })
      expect(child.state).toBe('CANCELLED')
      expect(child.error?.message).toContain(`parent run ${runId} cancelled: enough`)
      expect((await client.getRun(runId)).state).toBe('CANCELLED')
      await until(() => !blocked.has(via))
    })

  it('cancels the child run in the store when no worker is left to see the cancel (Orchestrator.cancel, as `flotilla runs cancel`)', async () => {
    const store = sqlite()
    const w = await worker(store, 'w0', [blocker, planner], { stop: false })
    const client = await Client.connect(store)
    const runId = await client.start(workflow('c').task('p', { agent: 'planner', input: 'alone' }).build())
    await until(() => blocked.has('alone'))
    await w.stop({ drainMs: 0 })
    expect((await client.getRun(`${runId}.p`)).state).toBe('RUNNING')
    const o = new Orchestrator({ store: `sqlite:${store.path}` })
    await o.cancel(runId, 'enough')
    await o.close()
    expect((await client.getRun(runId)).state).toBe('CANCELLED')
    const child = await client.getRun(`${runId}.p`)
    expect(child.state).toBe('CANCELLED')
    expect(child.error?.message).toContain(`parent run ${runId} cancelled: enough`)
  })
})

describe('a worker stopped during a child run', () => {
  it('the next attempt of the planning task, on another worker, takes over the same child run', async () => {
    const store = sqlite()
    const calls: string[] = []
    let release = false
    const step = defineAgent({
      name: 'step',
      handler: async (id: string, ctx) => {
        calls.push(`step ${id} ${ctx.attempt}`)
        if (id === 'second')
          while (!release) {
            ctx.signal.throwIfAborted()
            await new Promise((r) => setTimeout(r, 10))
          }
        return `${id} done`
      },
    })
    const planner = defineAgent({
      name: 'planner',
      handler: (_: unknown, ctx) => {
        calls.push(`plan ${ctx.attempt}`)
        return childWorkflow({
          name: 'steps',
          tasks: [
            { id: 'first', agent: 'step', input: 'first' },
            { id: 'second', agent: 'step', input: 'second', dependsOn: ['first'] },
          ],
        })
      },
    })
    const w0 = await worker(store, 'w0', [step, planner], { stop: false })
    const client = await Client.connect(store)
    const runId = await client.start(workflow('crash').task('p', { agent: 'planner' }).build())
    await until(() => calls.includes('step second 1'))
    await w0.stop({ drainMs: 0 })
    release = true
    await worker(store, 'w1', [step, planner])
    const run = await client.result(runId, { timeoutMs: 15_000 })
    expect(run.state).toBe('SUCCEEDED')
    expect((await client.getTasks(runId))[0]?.output).toEqual({ first: 'first done', second: 'second done' })
    expect((await client.listRuns({ parentRunId: runId as RunId })).map((c) => c.id)).toEqual([`${runId}.p`])
    // Planned twice (the attempt ran again on w1), the child run's finished task not run again.
    expect(calls.filter((c) => c.startsWith('plan '))).toHaveLength(2)
    expect(calls.filter((c) => c.startsWith('step first'))).toEqual(['step first 1'])
  })
})

await describePostgres('plans on workers on PostgreSQL', () => {
  it('a plan runs as a child run on two workers; cancelling the parent cancels it', async () => {
    await withFreshSchema(async (url) => {
      const gate = new Set<string>()
      const wait = defineAgent({
        name: 'wait',
        handler: async (key: string, ctx) => {
          if (key !== 'hold') return `${key} done`
          gate.add(key)
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
          throw ctx.signal.reason
        },
      })
      const planner = defineAgent({
        name: 'planner',
        handler: (keys: string[]) =>
          childWorkflow({ name: 'pg-plan', tasks: keys.map((k) => ({ id: k, agent: 'wait', input: k })) }),
      })
      const ws: Worker[] = []
      for (const id of ['pg0', 'pg1']) {
        const w = new Worker({ store: url, id, leaseMs: 1500, pollMs: 50 })
        await w.register(wait)
        await w.register(planner)
        await w.start()
        ws.push(w)
      }
      const client = await Client.connect(url)
      try {
        const ok = await client.start(
          workflow('pg')
            .task('p', { agent: 'planner', input: ['x', 'y'] })
            .build(),
        )
        expect((await client.result(ok, { timeoutMs: 20_000 })).state).toBe('SUCCEEDED')
        expect((await client.getTasks(ok))[0]?.output).toEqual({ x: 'x done', y: 'y done' })
        expect((await client.listRuns({ parentRunId: ok })).map((c) => [c.id, c.state])).toEqual([
          [`${ok}.p`, 'SUCCEEDED'],
        ])
        const held = await client.start(
          workflow('pg')
            .task('p', { agent: 'planner', input: ['hold'] })
            .build(),
        )
        await until(() => gate.has('hold'))
        await client.cancel(held, 'stop')
        expect((await client.result(`${held}.p`, { timeoutMs: 10_000 })).state).toBe('CANCELLED')
      } finally {
        await client.close()
        for (const w of ws) await w.stop({ drainMs: 0 })
      }
    })
  }, 60_000)
})
