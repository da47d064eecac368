import { describe, expect, it } from 'vitest'
import { RunSpend } from '../../src/agents/llm-run-budget.js'
import type { ModelSpend } from '../../src/core/model-spend.js'

// The run budget of a language-model agent as one process counts it: what the
// run's task records hold (all workers), plus what its own tasks spend, each
// task counted once.

const spend = (calls: number, tokens = 100 * calls): ModelSpend => ({
  calls,
  replayed: 0,
  inputTokens: tokens,
  outputTokens: 0,
  reasoningTokens: 0,
  cachedInputTokens: 0,
  costUsd: calls / 100,
})
const call = { tokens: 100, costUsd: 0.01 }

describe('RunSpend', () => {
  it("counts the stored spend of the agent's tasks, from any worker, and not other agents'", () => {
    const run = new RunSpend({ calls: 10 })
    run.seed(
      [
        { taskId: 'a', agent: 'writer@1.0.0', model: spend(2) },
        { taskId: 'b', agent: 'writer', model: spend(3) },
        { taskId: 'c', agent: 'critic@1.0.0', model: spend(4) },
        { taskId: 'd', agent: 'writer-two@1.0.0', model: spend(5) },
      ],
      'writer',
    )
    expect(run.meter.spent).toEqual({ calls: 5, tokens: 500, costUsd: 0.05 })
  })

  it('counts a task run here once, before and after its result is stored', () => {
    const run = new RunSpend({ calls: 10 })
    run.seed([], 'writer')
    const a = run.attempt('a')
    a.charge(call, false)
    a.charge(call, false)
    expect(run.meter.spent.calls).toBe(2)
    // Task a's result is stored (2 calls); another worker stored task b (3 calls).
    run.seed(
      [
        { taskId: 'a', agent: 'writer@1.0.0', model: spend(2) },
        { taskId: 'b', agent: 'writer@1.0.0', model: spend(3) },
      ],
      'writer',
    )
    expect(run.meter.spent.calls).toBe(5)
    expect(() => run.meter.check('writer', { tokens: 0, costUsd: 0 })).not.toThrow()
  })

  it("counts the calls of a crashed attempt once, through the next attempt's replay", () => {
    const run = new RunSpend({ calls: 4 })
    // The earlier attempt stored nothing (it was killed); its 2 calls are replayed, then one is made.
    run.seed([], 'writer')
    const again = run.attempt('a')
    again.charge(call, true)
    again.charge(call, true)
    again.charge(call, false)
    expect(run.meter.spent.calls).toBe(3)
    // A retry after a stored failure (1 call stored) replays that call without counting it again.
    const run2 = new RunSpend({ calls: 4 })
    run2.seed([{ taskId: 'a', agent: 'writer@1.0.0', model: spend(1) }], 'writer')
    const retry = run2.attempt('a')
    retry.charge(call, true)
    expect(run2.meter.spent.calls).toBe(1)
    retry.charge(call, false)
    expect(run2.meter.spent.calls).toBe(2)
  })

  it('refuses the call that could pass the run budget, and reports 80 % once', () => {
    const run = new RunSpend({ calls: 5 })
    expect(run.seed([{ taskId: 'a', agent: 'writer@1.0.0', model: spend(4) }], 'writer')).toEqual([
      { measure: 'calls', spent: 4, limit: 5 },
    ])
    const b = run.attempt('b')
    expect(b.charge(call, false)).toEqual([])
    expect(() => run.meter.check('writer', { tokens: 0, costUsd: 0 })).toThrow(
      expect.objectContaining({ code: 'BUDGET_EXCEEDED', details: expect.objectContaining({ scope: 'run' }) }),
    )
  })
})
