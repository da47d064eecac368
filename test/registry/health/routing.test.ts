import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../../src/core/fake-clock.js'
import { AgentInstance } from '../../../src/registry/agent-instance.js'
import type { AgentPool } from '../../../src/registry/agent-pool.js'
import { Registry } from '../../../src/registry/registry.js'
import { HealthMonitor } from '../../../src/registry/health/health-monitor.js'
import { agent, codeOf } from '../helpers.js'

/** Acquires and releases `n` times; the agent names served, in order. */
function take(pool: AgentPool, n: number): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const got = pool.acquire()
    if (typeof got === 'string') {
      out.push(got)
      continue
    }
    out.push(got.definition.name)
    pool.release(got, 1, true)
  }
  return out
}

describe('routing around unhealthy instances', () => {
  it.each(['round-robin', 'least-loaded', 'performance'] as const)(
    'pool.acquire() skips a FAILED or RECOVERING instance (%s), and uses it again once HEALTHY',
    async (strategy) => {
      const clock = new FakeClock()
      const registry = new Registry({ clock, strategy })
      let sick = false
      await registry.register(agent('steady', { capabilities: ['work'] }))
      const [flaky] = await registry.register(agent('flaky', { capabilities: ['work'], healthCheck: () => !sick }))
      const pool = registry.pool({ capability: 'work' })
      const monitor = new HealthMonitor(registry, { clock, failureThreshold: 1 })
      expect(new Set(take(pool, 4))).toEqual(new Set(['steady', 'flaky']))

      sick = true
      await monitor.checkAll()
      expect(monitor.health(flaky.id)?.health).toBe('RECOVERING')
      expect(take(pool, 4)).toEqual(['steady', 'steady', 'steady', 'steady'])
      const only = registry.pool({ agent: 'flaky' }).acquire()
      expect(typeof only).toBe('string')

      sick = false
      await clock.advance(1_000) // the restart, then a passing check
      expect(monitor.health(flaky.id)?.health).toBe('HEALTHY')
      expect(new Set(take(pool, 4))).toEqual(new Set(['steady', 'flaky']))
    },
  )
})

describe('AgentInstance.routable and restart()', () => {
  it('available is false while not routable, whatever the lifecycle', async () => {
    const inst = new AgentInstance(agent('a'), { clock: new FakeClock() })
    await inst.start()
    expect(inst.routable).toBe(true)
    expect(inst.available).toBe(true)
    inst.routable = false
    expect(inst.available).toBe(false)
    expect(inst.state).toBe('READY')
  })

  it('restart() runs initialize again from READY or FAILED, and refuses a STOPPED instance', async () => {
    let inits = 0
    let fail = false
    const inst = new AgentInstance(
      agent('a', {
        initialize: () => {
          inits++
          if (fail) throw new Error('boom')
        },
      }),
      { clock: new FakeClock() },
    )
    await inst.start()
    await inst.start()
    expect(inits).toBe(1)
    await inst.restart()
    expect(inits).toBe(2)
    expect(inst.state).toBe('READY')
    fail = true
    expect(await codeOf(() => inst.restart())).toBe('AGENT_INIT_FAILED')
    expect(inst.state).toBe('FAILED')
    fail = false
    await inst.restart()
    expect(inst.state).toBe('READY')
    inst.stop()
    expect(await codeOf(() => inst.restart())).toBe('AGENT_INIT_FAILED')
    expect(inst.state).toBe('STOPPED')
    expect(inits).toBe(4)
  })
})

describe('a pool whose every instance is routed around', () => {
  it('answers none (AGENT_UNAVAILABLE upstream), not busy, so no task waits forever', async () => {
    const { Registry } = await import('../../../src/registry/registry.js')
    const { defineAgent } = await import('../../../src/agents/define-agent.js')
    const registry = new Registry()
    const [a, b] = await registry.register(defineAgent({ name: 'solo', handler: () => 1 }), { instances: 2 })
    a.routable = false
    b.routable = false
    expect(registry.pool({ agent: 'solo' }).acquire()).toBe('none')
    b.routable = true
    expect(registry.pool({ agent: 'solo' }).acquire()).toBe(b)
  })
})
