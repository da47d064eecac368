import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { defineAgentTemplate } from '../../src/agents/agent-template.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { definePlannerAgent } from '../../src/workflows/planner.js'
import { workflow } from '../../src/workflows/builder.js'

// A language-model planner on workers that open their store from its spec (as `flotilla worker --store` does):
// the planning model call is journaled in the store, so the planning task's next attempt on another worker
// replays it instead of asking the model again, and takes over the same child run.

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

it('the next attempt of an LLM planning task, on another worker, replays the planning call from the journal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-planner-journal-'))
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })))
  const spec = `sqlite:${join(dir, 'w.db')}`
  let planCalls = 0
  const slow = defineAgentTemplate({
    name: 'slow',
    model: scriptedModel([{ text: 'done', delayMs: 1500 }], { repeatLast: true }),
  })
  const plan = { tasks: [{ id: 'facts', specialty: 'slow', prompt: 'Find facts.' }] }
  const planner = () =>
    definePlannerAgent({
      name: 'coordinator',
      model: scriptedModel([() => (planCalls++, { object: plan })], { repeatLast: true }),
      templates: ['slow'],
    })
  const start = async (id: string): Promise<Worker> => {
    const w = new Worker({ store: spec, id, leaseMs: 1200, pollMs: 20 })
    w.registry.templates.register(slow)
    await w.register(planner())
    await w.start()
    return w
  }
  const w0 = await start('w0')
  const client = await Client.connect(spec)
  cleanups.push(() => client.close())
  const runId = await client.start(workflow('q').task('plan', { agent: 'coordinator', input: 'Why?' }).build())
  const deadline = Date.now() + 15_000
  while ((await client.listRuns({ parentRunId: runId })).length === 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20))
  expect(planCalls).toBe(1)
  await w0.stop({ drainMs: 0 })
  const w1 = await start('w1')
  cleanups.push(() => w1.stop({ drainMs: 0 }))
  const run = await client.result(runId, { timeoutMs: 15_000 })
  expect(run.state).toBe('SUCCEEDED')
  expect((await client.listRuns({ parentRunId: runId })).map((c) => c.id)).toEqual([`${runId}.plan`])
  expect(planCalls).toBe(1)
}, 30_000)
