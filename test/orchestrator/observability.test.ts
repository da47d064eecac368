import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { ref, workflow } from '../../src/workflows/builder.js'

describe('execution history, health and the agent graph on the Orchestrator', () => {
  it('records each finished attempt per agent, with failures and their codes', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    await o.register(
      defineAgent({
        name: 'flaky',
        handler: (_: unknown, ctx) => {
          if (ctx.attempt === 1) throw new Error('first try')
          return 'ok'
        },
      }),
    )
    const r = await o.run(
      workflow('h')
        .task('t', { agent: 'flaky', retry: { maxAttempts: 2, initialDelayMs: 0 } })
        .build(),
    )
    expect(r.state).toBe('SUCCEEDED')
    const recent = o.history.recent('flaky@1.0.0', 10)
    expect(recent.map((e) => [e.attempt, e.ok, e.errorCode])).toEqual([
      [2, true, undefined],
      [1, false, 'TASK_FAILED'],
    ])
    expect(recent[0].runId).toBe(r.runId)
  })

  it('reports health per instance and the graph of which agents feed which', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    await o.register(defineAgent({ name: 'a', handler: () => 1, healthCheck: () => true }))
    await o.register(defineAgent({ name: 'b', handler: (x: number) => x + 1, healthCheck: () => false }))
    const health = Object.values(await o.healthCheckAll())
      .map((h) => h.health)
      .sort()
    expect(health).toContain('HEALTHY')
    expect(health).toContain('DEGRADED')
    const wf = workflow('g')
      .task('x', { agent: 'a' })
      .task('y', { agent: 'b', input: ref('x') })
      .build()
    expect(o.agentGraph([wf]).edges).toEqual([expect.objectContaining({ from: 'a', to: 'b', count: 1 })])
    await o.close()
  })
})

describe('Orchestrator.discover', () => {
  it('registers discovered agents and workflows (as templates), and reports the bad files without stopping', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    const fixtures = new URL('../fixtures/discovery/', import.meta.url).pathname
    const report = await o.discover({ agents: `${fixtures}agents`, workflows: `${fixtures}workflows` })
    expect(report.agents?.loaded.map((l) => l.agents).flat()).toEqual(
      expect.arrayContaining(['upper@1.0.0', 'upper@1.1.0', 'lower@1.0.0']),
    )
    expect(report.agents?.failed.map((f) => f.code)).toEqual(
      expect.arrayContaining(['MODULE_LOAD_FAILED', 'AGENT_INVALID']),
    )
    expect(report.workflows?.failed.map((f) => f.code)).toEqual(
      expect.arrayContaining(['WORKFLOW_INVALID', 'WORKFLOW_CYCLE']),
    )
    expect(o.templateNames()).toContain('hello')
    const r = await o.runTemplate('hello')
    expect(r.output('greet')).toBe('HELLO!')
  })
})
