import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import type { AgentInstance } from '../../src/registry/agent-instance.js'
import type { AgentPool } from '../../src/registry/agent-pool.js'
import { PERFORMANCE_EXPLORE_EVERY, selectByPerformance } from '../../src/registry/load-balancer.js'
import { Registry } from '../../src/registry/registry.js'
import { prng } from '../helpers/prng.js'
import { agent } from './helpers.js'

async function setup(instances: number, breaker = { failureThreshold: 5, cooldownMs: 600_000 }) {
  const registry = new Registry({ clock: new FakeClock(), strategy: 'performance', circuitBreaker: breaker })
  const members = await registry.register(agent(`perf-${instances}`), { instances })
  return { pool: registry.pool({ agent: `perf-${instances}` }), members }
}

/** One sequential call: acquire, then release with the latency (and outcome) `outcome` gives the chosen instance. */
function call(pool: AgentPool, outcome: (inst: AgentInstance) => { ms: number; ok?: boolean }): AgentInstance {
  const got = pool.acquire()
  if (typeof got === 'string') throw new Error(`nothing acquired: ${got}`)
  const { ms, ok = true } = outcome(got)
  pool.release(got, ms, ok, ok ? undefined : 'failed')
  return got
}

function counts(picked: AgentInstance[], members: AgentInstance[]): number[] {
  return members.map((m) => picked.filter((p) => p === m).length)
}

describe('the performance strategy', () => {
  it('splits 60 sequential calls between two equally fast instances (timer jitter does not elect one)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { pool, members } = await setup(2)
      const random = prng(seed)
      const picked: AgentInstance[] = []
      for (let i = 0; i < 60; i++) picked.push(call(pool, () => ({ ms: 8 + 4 * random() })))
      const [a, b] = counts(picked, members)
      expect(Math.min(a, b), `seed ${seed}: ${a}/${b}`).toBeGreaterThanOrEqual(20)
    }
  })

  it('tries an instance again after one slow call, and gives it back its share once it is fast again', async () => {
    const { pool, members } = await setup(2)
    const [a, b] = members
    call(pool, () => ({ ms: 5 })) // a
    call(pool, () => ({ ms: 200 })) // b: one hiccup
    const picked: AgentInstance[] = []
    for (let i = 0; i < 400; i++) picked.push(call(pool, () => ({ ms: 5 })))
    expect(picked.slice(0, PERFORMANCE_EXPLORE_EVERY)).toContain(b) // explored within PERFORMANCE_EXPLORE_EVERY picks
    expect(counts(picked.slice(0, 100), [a, b])[1]).toBe(10) // meanwhile, only exploration: its average (alpha 0.2) comes down call by call
    expect(counts(picked.slice(300), [a, b])[1]).toBeGreaterThanOrEqual(40) // back within 20 % of the best: turns again
  })

  it('stops preferring a fast instance at its first failure, long before its circuit opens', async () => {
    const { pool, members } = await setup(2)
    const [fast, slow] = members
    call(pool, () => ({ ms: 1 }))
    call(pool, () => ({ ms: 1 }))
    fast.metrics.record(1, true)
    slow.metrics.record(50, true)
    for (let i = 0; i < 5; i++) slow.metrics.record(50, true) // slow: about 50 ms; fast: 1 ms
    let fastFails = true
    const picked: AgentInstance[] = []
    for (let i = 0; i < 2 * PERFORMANCE_EXPLORE_EVERY; i++)
      picked.push(call(pool, (inst) => (inst === fast ? { ms: 1, ok: !fastFails } : { ms: 50 })))
    const fastCalls = picked.filter((p) => p === fast).length
    expect(fastCalls).toBeLessThanOrEqual(3) // its first failing call, then only exploration
    expect(fast.breaker.state).toBe('CLOSED')
    // Once it succeeds again (an exploration call), it is preferred again.
    fastFails = false
    while (call(pool, (inst) => (inst === fast ? { ms: 1 } : { ms: 50 })) !== fast);
    const after: AgentInstance[] = []
    for (let i = 0; i < 9; i++) after.push(call(pool, (inst) => (inst === fast ? { ms: 1 } : { ms: 50 })))
    expect(after.filter((p) => p === fast).length).toBeGreaterThanOrEqual(8)
  })

  it('still chooses among instances that all failed last, by score', () => {
    const inst = (latency: number, failures: number) => ({
      available: true,
      active: 0,
      metrics: { calls: 3, ewmaLatencyMs: latency, ewmaErrorRate: 0.5 },
      breaker: { consecutiveFailures: failures },
    })
    expect(selectByPerformance([inst(100, 1), inst(10, 2)], 0)).toBe(1)
    expect(selectByPerformance([inst(10, 1), inst(100, 0)], 0)).toBe(1) // a clean instance beats a faster failing one
    expect(selectByPerformance([{ ...inst(10, 0), available: false }], 0)).toBe(-1)
  })
})
