import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineAgentTemplate } from '../../src/agents/agent-template.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { childWorkflow } from '../../src/workflows/child-plan.js'
import { workflow } from '../../src/workflows/builder.js'
import { scriptedModel } from '../../src/models/scripted-model.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('plans on workers', () => {
  it('a task returning a plan fails with CHILD_RUN_UNSUPPORTED instead of storing the plan as its output', async () => {
    const store = new MemoryStore()
    const w = new Worker({ store, id: 'w0', leaseMs: 3000, pollMs: 20 })
    w.registry.templates.register(
      defineAgentTemplate({ name: 'helper', model: scriptedModel([{ text: 'done' }], { repeatLast: true }) }),
    )
    await w.register(
      defineAgent({
        name: 'fan-out',
        handler: () =>
          childWorkflow(
            { name: 'team', tasks: [{ id: 'h', agent: 'x', input: 'go' }] },
            { agents: { x: { template: 'helper' } } },
          ),
      }),
    )
    await w.start()
    cleanups.push(() => w.stop({ drainMs: 1000 }))
    const client = await Client.connect(store)
    const runId = await client.start(workflow('plan-on-worker').task('p', { agent: 'fan-out' }).build())
    const run = await client.result(runId, { timeoutMs: 10_000 })
    expect(run.state).toBe('FAILED')
    const [task] = await client.getTasks(runId)
    expect(task).toMatchObject({ state: 'FAILED', output: undefined })
    expect(task?.error).toMatchObject({ code: 'CHILD_RUN_UNSUPPORTED' })
    expect(task?.error?.message).toContain('run this workflow on an Orchestrator')
    expect(await store.listRuns({ parentRunId: runId })).toEqual([])
  })

  it('ctx.spawn({ template }) fails with CHILD_RUN_UNSUPPORTED, saying where such a workflow runs', async () => {
    const store = new MemoryStore()
    const w = new Worker({ store, id: 'w1', leaseMs: 3000, pollMs: 20 })
    w.registry.templates.register(
      defineAgentTemplate({ name: 'helper', model: scriptedModel([{ text: 'done' }], { repeatLast: true }) }),
    )
    await w.register(
      defineAgent({
        name: 'lead',
        handler: async (q: string, ctx) => (await ctx.spawn({ template: 'helper' })).execute(q),
      }),
    )
    await w.start()
    cleanups.push(() => w.stop({ drainMs: 1000 }))
    const client = await Client.connect(store)
    const runId = await client.start(workflow('spawn-on-worker').task('p', { agent: 'lead', input: 'q' }).build())
    expect((await client.result(runId, { timeoutMs: 10_000 })).state).toBe('FAILED')
    const [task] = await client.getTasks(runId)
    expect(task?.error).toMatchObject({ code: 'CHILD_RUN_UNSUPPORTED', details: { template: 'helper' } })
    expect(await store.listRuns({ parentRunId: runId })).toEqual([])
  })
})
