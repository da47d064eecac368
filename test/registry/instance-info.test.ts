import { describe, expect, it } from 'vitest'
import { defineAgent, type AgentInstanceInfo } from '../../src/agents/define-agent.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import { HealthMonitor } from '../../src/registry/health/health-monitor.js'
import { Registry } from '../../src/registry/registry.js'
import { agent, codeOf } from './helpers.js'

describe('initialize and healthCheck are told which instance they run for', () => {
  it('gives each instance of a registration its id and index', async () => {
    const inits: AgentInstanceInfo[] = []
    const checks: AgentInstanceInfo[] = []
    const registry = new Registry()
    const instances = await registry.register(
      agent('sharded', {
        version: '2.1.0',
        initialize: (info) => void inits.push(info),
        healthCheck: (info) => {
          checks.push(info)
          return info.index !== 1 || { healthy: false, detail: `shard ${info.index} of ${info.instanceId} is down` }
        },
      }),
      { instances: 3 },
    )
    const expected = instances.map((inst, index) => ({
      instanceId: inst.id,
      index,
      agent: 'sharded',
      version: '2.1.0',
    }))
    expect([...inits].sort((a, b) => a.index - b.index)).toEqual(expected)
    expect(instances.map((i) => i.info)).toEqual(expected)

    const reports = await registry.healthCheckAll()
    expect([...checks].sort((a, b) => a.index - b.index)).toEqual(expected)
    expect(reports[instances[1].id]).toEqual({ healthy: false, detail: `shard 1 of ${instances[1].id} is down` })
    expect(reports[instances[0].id]).toEqual({ healthy: true })
  })

  it('tells a hook called without instance (an agent run on its own) name@version and index 0', async () => {
    let seen: AgentInstanceInfo | undefined
    const def = defineAgent({
      name: 'solo',
      version: '1.2.3',
      handler: () => 1,
      initialize: (info) => void (seen = info),
    })
    await def.initialize?.()
    expect(seen).toEqual({ instanceId: 'solo@1.2.3', index: 0, agent: 'solo', version: '1.2.3' })
  })

  it('refuses a hook that is not a function with AGENT_INVALID', async () => {
    expect(await codeOf(() => defineAgent({ name: 'x', handler: () => 1, initialize: 'yes' as never }))).toBe(
      'AGENT_INVALID',
    )
    expect(await codeOf(() => defineAgent({ name: 'x', handler: () => 1, healthCheck: true as never }))).toBe(
      'AGENT_INVALID',
    )
  })
})

describe('a restarted instance starts clean', () => {
  it('self-healing after the circuit opened leaves the instance HEALTHY, with no calls and error rate 0', async () => {
    const clock = new FakeClock()
    const registry = new Registry({ clock, circuitBreaker: { failureThreshold: 5, cooldownMs: 600_000 } })
    const [instance] = await registry.register(agent('flaky', { healthCheck: () => true }))
    const pool = registry.pool({ agent: 'flaky' })
    for (let i = 0; i < 5; i++) {
      const got = pool.acquire()
      if (typeof got === 'string') throw new Error(got)
      pool.release(got, 3, false, 'upstream 503')
    }
    expect(instance.breaker.state).toBe('OPEN')
    expect(instance.metrics.ewmaErrorRate).toBeGreaterThan(0.6)

    const monitor = new HealthMonitor(registry, { clock })
    const path: string[] = []
    monitor.onTransition((t) => path.push(t.to))
    await monitor.checkAll() // FAILED, restart in 1 s
    await clock.advance(1_000)
    expect(path).toEqual(['FAILED', 'RECOVERING', 'HEALTHY'])
    expect(monitor.health(instance.id)).toEqual({ health: 'HEALTHY', detail: 'ok' })
    expect(instance.metrics.snapshot()).toMatchObject({ calls: 0, errors: 0, ewmaErrorRate: 0 })
    expect(instance.metrics.lastError).toBeUndefined()
    expect(instance.breaker.state).toBe('CLOSED')
  })

  it('restart() alone gives new metrics and closes the circuit', async () => {
    const registry = new Registry({ circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } })
    const [instance] = await registry.register(agent('again'))
    const pool = registry.pool({ agent: 'again' })
    const got = pool.acquire()
    if (typeof got === 'string') throw new Error(got)
    pool.release(got, 7, false)
    expect(instance.breaker.state).toBe('OPEN')
    await instance.restart()
    expect(instance.metrics.calls).toBe(0)
    expect(instance.breaker.state).toBe('CLOSED')
    expect(instance.state).toBe('READY')
  })
})
