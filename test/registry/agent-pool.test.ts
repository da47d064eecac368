import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import type { AgentInstance } from '../../src/registry/agent-instance.js'
import { checkSelector, poolKey, type AcquireResult } from '../../src/registry/agent-pool.js'
import { performanceScore, type LoadBalancingStrategy } from '../../src/registry/load-balancer.js'
import { Registry } from '../../src/registry/registry.js'
import { agent, codeOf } from './helpers.js'

async function setup(strategy: LoadBalancingStrategy, instances: number, extra: Parameters<typeof agent>[1] = {}) {
  const clock = new FakeClock()
  const registry = new Registry({ clock, strategy, circuitBreaker: { failureThreshold: 5, cooldownMs: 1_000 } })
  const members = await registry.register(agent('worker', extra), { instances })
  return { clock, registry, members, pool: registry.pool({ agent: 'worker' }) }
}

function taken(result: AcquireResult): AgentInstance {
  if (typeof result === 'string') throw new Error(`expected an instance, got '${result}'`)
  return result
}

describe('AgentPool', () => {
  it('keys selectors and rejects malformed ones with VALIDATION_FAILED', async () => {
    expect(poolKey({ agent: 'scanner', version: '1.0.0' })).toBe('agent:scanner@1.0.0')
    expect(poolKey({ agent: 'scanner' })).toBe('agent:scanner')
    expect(poolKey({ capability: 'fix' })).toBe('capability:fix')
    expect(await codeOf(() => checkSelector({ agent: '' }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => checkSelector(null))).toBe('VALIDATION_FAILED')
  })

  it('round-robin rotates over the instances', async () => {
    const { pool, members } = await setup('round-robin', 3)
    const order: number[] = []
    for (let i = 0; i < 6; i++) {
      const inst = taken(pool.acquire())
      order.push(members.indexOf(inst))
      pool.release(inst, 1, true)
    }
    expect(order).toEqual([0, 1, 2, 0, 1, 2])
    // Load does not matter to round-robin: an instance still in use gets its turn.
    const held = taken(pool.acquire())
    expect(held).toBe(members[0])
    expect(pool.acquire()).toBe(members[1])
    expect(pool.acquire()).toBe(members[2])
    expect(pool.acquire()).toBe(held)
    expect(held.active).toBe(2)
  })

  it('least-loaded avoids the busy instance', async () => {
    const { pool, members } = await setup('least-loaded', 3)
    const held = taken(pool.acquire())
    expect(held.active).toBe(1)
    const chosen = new Set<AgentInstance>()
    for (let i = 0; i < 6; i++) {
      const inst = taken(pool.acquire())
      chosen.add(inst)
      pool.release(inst, 1, true)
    }
    expect(chosen.has(held)).toBe(false)
    expect(chosen.size).toBe(2) // ties take turns
    // With all three loaded, the least loaded one wins.
    members[0].active = 4
    members[1].active = 2
    members[2].active = 3
    expect(pool.acquire()).toBe(members[1])
    members[1].active = 3
    // Equal load: the instances take turns.
    const turns = new Set<AgentInstance>()
    for (let i = 0; i < 3; i++) {
      const inst = taken(pool.acquire())
      turns.add(inst)
      pool.release(inst, 1, true)
    }
    expect(turns.size).toBe(2)
    expect(turns.has(members[0])).toBe(false)
  })

  it('performance prefers the fast, low-error instance and tries untried ones first', async () => {
    const { pool, members } = await setup('performance', 3)
    const [slow, flaky, fast] = members
    for (let i = 0; i < 10; i++) {
      slow.metrics.record(500, true)
      flaky.metrics.record(40, i % 2 === 0)
    }
    expect(performanceScore(fast)).toBe(0) // no calls yet: tried first
    expect(taken(pool.acquire())).toBe(fast)
    pool.release(fast, 50, true)
    expect(performanceScore(fast)).toBe(51)
    expect(performanceScore(flaky)).toBeGreaterThan(performanceScore(fast))
    expect(performanceScore(slow)).toBeGreaterThan(performanceScore(fast))
    for (let i = 0; i < 5; i++) {
      const inst = taken(pool.acquire())
      expect(inst).toBe(fast)
      pool.release(inst, 50, true)
    }
    // Load counts: the fast one with 20 in flight scores worse than the flaky idle one.
    fast.active = 20
    expect(pool.acquire()).toBe(flaky)
  })

  it("returns 'open' when the only instance failed 5 times", async () => {
    const { pool, members } = await setup('round-robin', 1)
    for (let i = 0; i < 5; i++) pool.release(taken(pool.acquire()), 1, false, `failure ${i}`)
    expect(members[0].breaker.state).toBe('OPEN')
    expect(pool.acquire()).toBe('open')
    expect(members[0].active).toBe(0)
    expect(members[0].metrics.snapshot()).toMatchObject({ calls: 5, errors: 5, lastError: 'failure 4' })
  })

  it('skips an instance whose circuit is open', async () => {
    const { pool, members } = await setup('round-robin', 2)
    for (let i = 0; i < 5; i++) members[0].breaker.onFailure()
    for (let i = 0; i < 4; i++) {
      const inst = taken(pool.acquire())
      expect(inst).toBe(members[1])
      pool.release(inst, 1, true)
    }
  })

  it('lets one half-open probe through after the cooldown; its success closes the circuit', async () => {
    const { pool, clock, members } = await setup('round-robin', 1)
    for (let i = 0; i < 5; i++) pool.release(taken(pool.acquire()), 1, false)
    expect(pool.acquire()).toBe('open')
    await clock.advance(999)
    expect(pool.acquire()).toBe('open')
    await clock.advance(1)
    const probe = taken(pool.acquire())
    expect(members[0].breaker.state).toBe('HALF_OPEN')
    expect(pool.acquire()).toBe('busy') // the probe is out: wait for its release
    pool.release(probe, 1, true)
    expect(members[0].breaker.state).toBe('CLOSED')
    taken(pool.acquire())
  })

  it('opens again when the probe fails, and frees the probe slot when it is abandoned', async () => {
    const { pool, clock, members } = await setup('round-robin', 1)
    for (let i = 0; i < 5; i++) pool.release(taken(pool.acquire()), 1, false)
    await clock.advance(1_000)
    pool.release(taken(pool.acquire()), 1, false)
    expect(pool.acquire()).toBe('open')
    await clock.advance(1_000)
    const probe = taken(pool.acquire())
    pool.abandon(probe)
    expect(members[0].active).toBe(0)
    expect(members[0].metrics.calls).toBe(6) // abandon records nothing
    expect(members[0].breaker.state).toBe('HALF_OPEN')
    taken(pool.acquire())
  })

  it("returns 'busy' at maxConcurrency and frees a slot on release", async () => {
    const { pool, members } = await setup('least-loaded', 1, { maxConcurrency: 2 })
    const a = taken(pool.acquire())
    const b = taken(pool.acquire())
    expect(members[0].active).toBe(2)
    expect(pool.acquire()).toBe('busy')
    expect(pool.hasAvailable).toBe(false)
    pool.release(a, 10, true)
    expect(taken(pool.acquire())).toBe(b)
  })

  it("returns 'busy' rather than 'open' while a closed instance is at capacity", async () => {
    const { pool, members } = await setup('round-robin', 2, { maxConcurrency: 1 })
    for (let i = 0; i < 5; i++) members[0].breaker.onFailure()
    taken(pool.acquire())
    expect(pool.acquire()).toBe('busy')
  })

  it("returns 'none' when no instance is READY", async () => {
    const { pool, members, registry } = await setup('round-robin', 2)
    members[0].state = 'FAILED'
    members[1].state = 'FAILED'
    expect(pool.acquire()).toBe('none')
    registry.unregister('worker')
    expect(pool.instances).toEqual([])
    expect(pool.acquire()).toBe('none')
  })

  it('never lets active go below zero and accepts a release after unregister', async () => {
    const { pool, registry } = await setup('round-robin', 1)
    const inst = taken(pool.acquire())
    registry.unregister('worker')
    pool.release(inst, 3, true)
    pool.abandon(inst)
    expect(inst.active).toBe(0)
    expect(inst.state).toBe('STOPPED')
    expect(inst.metrics.calls).toBe(1)
  })
})
