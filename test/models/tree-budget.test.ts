import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FlotillaEvent } from '../../src/core/events.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { ROOT } from '../cli/run-cli.js'
import { chatText, startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

// Model budgets over a real agent tree: a manager deployed with budget.tree
// spawns language-model children through ctx.spawn (on the process runtime
// each agent is its own process, its model calls held by the supervisor over
// IPC); the local model server counts the requests that reached it.

const MODULE = join(ROOT, 'test/fixtures/llm/tree-budget.mjs')
let llm: FakeLlm
let root: string
beforeAll(async () => {
  ensureFreshBuild()
  llm = await startFakeLlm(() => chatText('ok', { prompt_tokens: 100, completion_tokens: 10 }))
  process.env.FLOTILLA_TEST_LLM_URL = llm.url
  root = await mkdtemp(join(tmpdir(), 'flotilla-tree-budget-'))
}, 120_000)
afterAll(async () => {
  await llm.close()
  await rm(root, { recursive: true, force: true })
})

function orchestrator(): Orchestrator {
  return new Orchestrator({
    store: 'memory',
    runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY }), new InProcessRuntime()],
    workspaceRoot: root,
  })
}

const refusal = (e: unknown): { code?: string; details?: Record<string, unknown> } =>
  e as { code?: string; details?: Record<string, unknown> }

for (const runtime of ['inprocess', 'process'] as const) {
  describe(`a tree budget (${runtime} runtime)`, () => {
    it('carves children from the parent, refuses calls before they reach the model, returns what a child did not spend', async () => {
      const o = orchestrator()
      const warnings: FlotillaEvent[] = []
      o.on('agent.reported', (e) => {
        if (e.report.type === 'budget.warning') warnings.push(e)
      })
      try {
        const boss = await o.agents.deploy({
          name: `boss-${runtime}`,
          module: MODULE,
          export: 'manager',
          runtime,
          env: { FLOTILLA_TEST_LLM_URL: llm.url },
          budget: { tree: { calls: 6 } },
        })
        const ask = (id: string): Promise<unknown> => o.agents.execute(boss.id, { op: 'ask', id, input: 'Say ok.' })
        const spawn = (name: string, budget?: Record<string, number>): Promise<string> =>
          o.agents.execute(boss.id, { op: 'spawn', name, budget }) as Promise<string>

        // A child with its own budget: 4 calls reserved out of the boss's 6.
        const carved = await spawn('carved', { calls: 4 })
        expect(o.agents.treeBudget(boss.id)?.calls).toEqual({ limit: 6, spent: 0, reserved: 4, held: 0, left: 2 })
        expect(o.agents.treeBudget(carved)?.calls).toMatchObject({ limit: 4, left: 4 })
        // More than the boss has left: refused at spawn, nothing deployed.
        const tooBig = await spawn('too-big', { calls: 3 }).catch((e: unknown) => e)
        expect(refusal(tooBig).code).toBe('BUDGET_EXCEEDED')
        expect(refusal(tooBig).details).toMatchObject({ scope: 'tree', measure: 'calls', asked: 3, left: 2 })
        expect((await o.agents.children(boss.id)).map((c) => c.name)).toEqual(['carved'])

        // A child without a budget draws on the boss's: 2 calls, then refused before the model is asked.
        const sharing = await spawn('sharing')
        expect(o.agents.treeBudget(sharing)).toBeUndefined()
        const before = llm.requests.length
        await ask(sharing)
        // Spent and reserved reached 80 % of the boss's calls (4 + 1 of 6): warned once.
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toMatchObject({
          agentId: boss.id,
          report: { type: 'budget.warning', data: { scope: 'tree', measure: 'calls', spent: 5, limit: 6 } },
        })
        await ask(sharing)
        expect(llm.requests.length).toBe(before + 2)
        const refused = await ask(sharing).catch((e: unknown) => e)
        expect(refusal(refused).code).toBe('BUDGET_EXCEEDED')
        expect(refusal(refused).details).toMatchObject({ scope: 'tree', measure: 'calls', budgetOf: boss.id })
        expect(llm.requests.length).toBe(before + 2)
        expect(warnings).toHaveLength(1)

        // The carved child spends 1 of its 4; when it ends, the 3 it left return to the boss.
        await ask(carved)
        expect(o.agents.treeBudget(carved)?.calls).toMatchObject({ spent: 1, left: 3 })
        await o.agents.execute(boss.id, { op: 'terminate', id: carved })
        expect(o.agents.treeBudget(boss.id)?.calls).toEqual({ limit: 6, spent: 3, reserved: 0, held: 0, left: 3 })
        await ask(sharing)
        expect(llm.requests.length).toBe(before + 4)
        expect(o.agents.treeBudget(boss.id)?.calls).toMatchObject({ spent: 4, left: 2 })
      } finally {
        await o.close()
      }
    }, 90_000)
  })
}

describe('a tree budget in tokens', () => {
  it('holds each call at its worst case (prompt + maxTokens) against the nearest budget of each measure', async () => {
    const o = orchestrator()
    try {
      const boss = await o.agents.deploy({
        name: 'boss-tokens',
        module: MODULE,
        export: 'manager',
        runtime: 'inprocess',
        budget: { tree: { tokens: 1000, calls: 10 } },
      })
      // The child limits tokens only: its calls still count against the boss's 10.
      const child = (await o.agents.execute(boss.id, {
        op: 'spawn',
        name: 'thrifty',
        budget: { tokens: 250 },
      })) as string
      const before = llm.requests.length
      await o.agents.execute(boss.id, { op: 'ask', id: child, input: 'Say ok.' })
      await o.agents.execute(boss.id, { op: 'ask', id: child, input: 'Say ok.' })
      // 2 × 110 tokens spent; 30 left, less than the next call's worst case (100 of maxTokens and the prompt).
      expect(o.agents.treeBudget(child)?.tokens).toMatchObject({ limit: 250, spent: 220, left: 30 })
      expect(o.agents.treeBudget(boss.id)).toMatchObject({
        tokens: { reserved: 250, left: 750 },
        calls: { spent: 2, left: 8 },
      })
      const refused = await o.agents
        .execute(boss.id, { op: 'ask', id: child, input: 'Say ok.' })
        .catch((e: unknown) => e)
      expect(refusal(refused).code).toBe('BUDGET_EXCEEDED')
      expect(refusal(refused).details).toMatchObject({ scope: 'tree', measure: 'tokens', limit: 250, spent: 220 })
      expect(String((refused as Error).message)).toMatch(/no call was made/)
      expect(llm.requests.length).toBe(before + 2)
      expect(o.agents.treeBudget(boss.id)?.calls).toMatchObject({ spent: 2, held: 0 })
    } finally {
      await o.close()
    }
  }, 60_000)

  it('refuses a malformed tree budget in a spec, naming the field', async () => {
    const o = orchestrator()
    try {
      const bad = await o.agents
        .deploy({ name: 'bad', module: MODULE, export: 'manager', budget: { tree: { tokens: -1 } } })
        .catch((e: unknown) => e)
      expect(refusal(bad).code).toBe('AGENT_SPEC_INVALID')
      expect(String((bad as Error).message)).toMatch(/budget\.tree\.tokens/)
      const unknown = await o.agents
        .deploy({ name: 'bad', module: MODULE, export: 'manager', budget: { tree: { dollars: 1 } } })
        .catch((e: unknown) => e)
      expect(String((unknown as Error).message)).toMatch(/unknown field "dollars".*tokens, costUsd, calls/)
    } finally {
      await o.close()
    }
  })
})
