import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** An agent whose handler ignores ctx.signal and runs `ms` ms, counting how many run at once. */
function stubbornAgent(name: string, ms: number, extra: { capabilities?: string[]; maxConcurrency?: number } = {}) {
  const seen = { running: 0, peak: 0 }
  const agent = defineAgent({
    name,
    ...extra,
    handler: async () => {
      seen.running++
      seen.peak = Math.max(seen.peak, seen.running)
      await sleep(ms) // ignores ctx.signal on purpose
      seen.running--
      return 'late'
    },
  })
  return { agent, seen }
}

describe('limits hold while a timed-out handler still runs', () => {
  it('a handler that ignores ctx.signal after TASK_TIMEOUT keeps its instance slot until it settles (peak 1 with maxConcurrency 1), and shows in lateHandlers', async () => {
    const { agent, seen } = stubbornAgent('stubborn', 120, { maxConcurrency: 1 })
    const orchestrator = new Orchestrator({ store: 'memory' })
    await orchestrator.register(agent)
    const tasks = Array.from({ length: 4 }, (_, k) => ({
      id: `t${k}`,
      agent: 'stubborn',
      timeoutMs: 20,
      retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 1 },
      continueOnFailure: true,
    }))
    const handle = await orchestrator.start({ name: 'late', tasks })
    await sleep(60)
    expect(orchestrator.metrics()['stubborn@1.0.0'].lateHandlers).toBe(1)
    const result = await handle.result
    expect(result.tasks.t0.error?.code).toBe('TASK_TIMEOUT')
    await sleep(200)
    expect(seen.peak).toBe(1)
    expect(orchestrator.metrics()['stubborn@1.0.0'].lateHandlers).toBe(0)
    await orchestrator.close()
  })

  it('a capability limit of 1 also holds while the timed-out handler runs on', async () => {
    const { agent, seen } = stubbornAgent('slow-llm', 80, { capabilities: ['llm'], maxConcurrency: 10 })
    const orchestrator = new Orchestrator({ store: 'memory', capabilityConcurrency: { llm: 1 } })
    await orchestrator.register(agent)
    const tasks = Array.from({ length: 3 }, (_, k) => ({
      id: `t${k}`,
      agent: 'slow-llm',
      timeoutMs: 10,
      continueOnFailure: true,
    }))
    const result = await orchestrator.run({ name: 'late-cap', tasks })
    expect(Object.values(result.tasks).map((t) => t.error?.code)).toEqual([
      'TASK_TIMEOUT',
      'TASK_TIMEOUT',
      'TASK_TIMEOUT',
    ])
    await sleep(120)
    expect(seen.peak).toBe(1)
    await orchestrator.close()
  })
})

describe('tasks parked on a busy agent when its circuit opens', () => {
  it('fail with CIRCUIT_OPEN instead of waiting forever', async () => {
    const bad = defineAgent({
      name: 'bad',
      maxConcurrency: 1,
      handler: async () => {
        await sleep(5)
        throw new Error('down')
      },
    })
    const orchestrator = new Orchestrator({ store: 'memory' })
    await orchestrator.register(bad)
    const tasks = Array.from({ length: 8 }, (_, k) => ({ id: `t${k}`, agent: 'bad', continueOnFailure: true }))
    const result = await orchestrator.run({ name: 'open', tasks })
    const codes = Object.values(result.tasks).map((t) => t.error?.code)
    expect(codes).toContain('CIRCUIT_OPEN')
    expect(codes.every((c) => c === 'TASK_FAILED' || c === 'CIRCUIT_OPEN')).toBe(true)
    await orchestrator.close()
  })
})
