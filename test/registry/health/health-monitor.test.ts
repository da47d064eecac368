import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../../src/core/fake-clock.js'
import type { AgentInstance } from '../../../src/registry/agent-instance.js'
import { Registry } from '../../../src/registry/registry.js'
import {
  HealthMonitor,
  type HealthMonitorOptions,
  type HealthTransition,
} from '../../../src/registry/health/health-monitor.js'
import { agent, codeOf } from '../helpers.js'

interface Switches {
  healthy: boolean
  initFails: boolean
  inits: number[]
  checks: number
}

async function setup(
  options: Omit<HealthMonitorOptions, 'clock'> = {},
  breaker?: { failureThreshold: number; cooldownMs: number },
) {
  const clock = new FakeClock()
  const registry = new Registry({ clock, circuitBreaker: breaker })
  const sw: Switches = { healthy: true, initFails: false, inits: [], checks: 0 }
  const [instance] = await registry.register(
    agent('worker', {
      initialize: () => {
        sw.inits.push(clock.now())
        if (sw.initFails) throw new Error('database unreachable')
      },
      healthCheck: () => {
        sw.checks++
        return sw.healthy ? true : { healthy: false, detail: 'queue stuck' }
      },
    }),
  )
  const monitor = new HealthMonitor(registry, { clock, ...options })
  const transitions: HealthTransition[] = []
  monitor.onTransition((t) => transitions.push(t))
  const path = () => transitions.map((t) => t.to)
  return { clock, registry, sw, instance: instance as AgentInstance, monitor, transitions, path }
}

describe('HealthMonitor', () => {
  it('reports HEALTHY for a READY instance whose check passes, keyed by instance id', async () => {
    const { monitor, instance, transitions } = await setup()
    expect(await monitor.checkAll()).toEqual({ [instance.id]: { health: 'HEALTHY', detail: 'ok' } })
    expect(transitions).toMatchObject([
      { instanceId: instance.id, agent: 'worker', version: '1.0.0', from: 'INITIALIZING', to: 'HEALTHY' },
    ])
    expect(monitor.health(instance.id)?.health).toBe('HEALTHY')
    expect(instance.routable).toBe(true)
  })

  it('is DEGRADED after one failed check and FAILED after three in a row; a passing check brings it back', async () => {
    const { monitor, instance, sw, path } = await setup({ selfHeal: false })
    sw.healthy = false
    expect((await monitor.checkAll())[instance.id]).toEqual({
      health: 'DEGRADED',
      detail: '1 health check(s) failed: queue stuck',
    })
    expect(instance.routable).toBe(true)
    await monitor.checkAll()
    expect(monitor.health(instance.id)?.health).toBe('DEGRADED')
    expect((await monitor.checkAll())[instance.id]).toEqual({
      health: 'FAILED',
      detail: '3 consecutive health checks failed: queue stuck',
    })
    expect(instance.routable).toBe(false)
    expect(instance.available).toBe(false)
    sw.healthy = true
    expect((await monitor.checkAll())[instance.id].health).toBe('HEALTHY')
    expect(instance.available).toBe(true)
    expect(path()).toEqual(['DEGRADED', 'FAILED', 'HEALTHY'])
  })

  it('honours failureThreshold', async () => {
    const { monitor, instance, sw } = await setup({ selfHeal: false, failureThreshold: 1 })
    sw.healthy = false
    expect((await monitor.checkAll())[instance.id].health).toBe('FAILED')
  })

  it('is DEGRADED when the moving-average error rate exceeds 0.2, or latency its threshold', async () => {
    const { monitor, instance } = await setup({ latencyThresholdMs: 500 })
    instance.metrics.record(10, false) // ewma 0.2: not above
    expect((await monitor.checkAll())[instance.id].health).toBe('HEALTHY')
    instance.metrics.record(10, false) // 0.36
    expect((await monitor.checkAll())[instance.id]).toEqual({ health: 'DEGRADED', detail: 'error rate 0.36 > 0.2' })
    for (let i = 0; i < 20; i++) instance.metrics.record(900, true)
    expect((await monitor.checkAll())[instance.id]).toMatchObject({
      health: 'DEGRADED',
      detail: expect.stringMatching(/^latency \d+ ms > 500 ms$/),
    })
    for (let i = 0; i < 40; i++) instance.metrics.record(10, true)
    expect((await monitor.checkAll())[instance.id].health).toBe('HEALTHY')
  })

  it('is FAILED when the circuit is open or the lifecycle state is FAILED', async () => {
    const { monitor, instance } = await setup({ selfHeal: false }, { failureThreshold: 2, cooldownMs: 10_000 })
    instance.breaker.onFailure()
    instance.breaker.onFailure()
    expect((await monitor.checkAll())[instance.id]).toEqual({ health: 'FAILED', detail: 'circuit breaker is open' })
    instance.breaker.reset()
    instance.state = 'FAILED'
    expect((await monitor.checkAll())[instance.id]).toEqual({
      health: 'FAILED',
      detail: 'instance failed its initialize hook',
    })
  })

  it('restarts a FAILED instance with exponential backoff (1 s, 2 s, 4 s … capped), RECOVERING meanwhile', async () => {
    const { monitor, instance, sw, clock, path } = await setup({ failureThreshold: 1, backoffMaxMs: 8_000 })
    expect(sw.inits).toEqual([0])
    sw.healthy = false
    sw.initFails = true
    expect((await monitor.checkAll())[instance.id]).toEqual({
      health: 'RECOVERING',
      detail: 'restart 1 in 1000 ms (1 consecutive health checks failed: queue stuck)',
    })
    expect(instance.routable).toBe(false)
    expect(path()).toEqual(['FAILED', 'RECOVERING'])
    await clock.advance(999)
    expect(sw.inits).toEqual([0])
    await clock.advance(1)
    expect(sw.inits).toEqual([0, 1_000])
    expect(instance.state).toBe('FAILED')
    expect(monitor.health(instance.id)?.detail).toBe(
      'restart 2 in 2000 ms (restart 1 failed: Agent "worker@1.0.0" failed its initialize hook: database unreachable. Fix the hook or the resources it needs, then register the agent again.)',
    )
    // Rounds skip a RECOVERING instance.
    const checks = sw.checks
    expect((await monitor.checkAll())[instance.id].health).toBe('RECOVERING')
    expect(sw.checks).toBe(checks)
    await clock.advance(40_000)
    // 1 s, then +2, +4, +8, +8, +8, +8 (capped at 8 s).
    expect(sw.inits).toEqual([0, 1_000, 3_000, 7_000, 15_000, 23_000, 31_000, 39_000])
    expect(instance.available).toBe(false)
    sw.initFails = false
    sw.healthy = true
    await clock.advance(8_000)
    expect(sw.inits.at(-1)).toBe(47_000)
    expect(instance.state).toBe('READY')
    expect(monitor.health(instance.id)?.health).toBe('HEALTHY')
    expect(instance.available).toBe(true)
    expect(path().slice(-3)).toEqual(['FAILED', 'RECOVERING', 'HEALTHY'])
  })

  it('resets the backoff only after a HEALTHY periodic check', async () => {
    const { monitor, instance, sw, clock } = await setup({ failureThreshold: 1 })
    sw.healthy = false
    await monitor.checkAll() // restart 1 in 1 s
    await clock.advance(1_000) // restart succeeds, but the check after it still fails: restart 2 in 2 s
    expect(monitor.health(instance.id)?.detail).toMatch(/^restart 2 in 2000 ms/)
    sw.healthy = true
    await clock.advance(2_000)
    expect(monitor.health(instance.id)?.health).toBe('HEALTHY')
    sw.healthy = false
    await monitor.checkAll()
    expect(monitor.health(instance.id)?.detail).toMatch(/^restart 3 in 4000 ms/)
    sw.healthy = true
    await clock.advance(4_000)
    await monitor.checkAll() // a healthy periodic check: backoff reset
    sw.healthy = false
    await monitor.checkAll()
    expect(monitor.health(instance.id)?.detail).toMatch(/^restart 1 in 1000 ms/)
  })

  it('resets the circuit on restart, and gives up after maxRestarts', async () => {
    const { monitor, instance, sw, clock } = await setup(
      { maxRestarts: 2 },
      { failureThreshold: 1, cooldownMs: 600_000 },
    )
    instance.breaker.onFailure()
    await monitor.checkAll()
    expect(monitor.health(instance.id)?.health).toBe('RECOVERING')
    await clock.advance(1_000)
    expect(instance.breaker.state).toBe('CLOSED')
    expect(monitor.health(instance.id)?.health).toBe('HEALTHY')
    sw.initFails = true
    sw.healthy = false
    await monitor.checkAll()
    await monitor.checkAll()
    await monitor.checkAll() // FAILED: restart 2 (1 was used, not reset by a periodic HEALTHY)
    await clock.advance(2_000)
    expect(monitor.health(instance.id)?.health).toBe('FAILED')
    expect(clock.pendingTimers).toBe(0)
    expect(instance.available).toBe(false)
  })

  it('uses a custom restart hook', async () => {
    const restarted: string[] = []
    const { monitor, instance, sw, clock } = await setup({
      failureThreshold: 1,
      restart: async (inst) => {
        restarted.push(inst.id)
        sw.healthy = true
      },
    })
    sw.healthy = false
    await monitor.checkAll()
    await clock.advance(1_000)
    expect(restarted).toEqual([instance.id])
    expect(monitor.health(instance.id)?.health).toBe('HEALTHY')
  })

  it('runs rounds every intervalMs after start(), with none after stop()', async () => {
    const { monitor, sw, clock } = await setup({ intervalMs: 10_000 })
    monitor.start()
    monitor.start()
    expect(monitor.running).toBe(true)
    await clock.advance(9_999)
    expect(sw.checks).toBe(0)
    await clock.advance(1)
    expect(sw.checks).toBe(1)
    await clock.advance(20_000)
    expect(sw.checks).toBe(3)
    monitor.stop()
    expect(monitor.running).toBe(false)
    expect(clock.pendingTimers).toBe(0)
    await clock.advance(60_000)
    expect(sw.checks).toBe(3)
  })

  it('stop() cancels pending restarts and makes instances routable again', async () => {
    const { monitor, instance, sw, clock } = await setup({ failureThreshold: 1 })
    sw.healthy = false
    await monitor.checkAll()
    expect(instance.routable).toBe(false)
    monitor.stop()
    expect(instance.routable).toBe(true)
    expect(clock.pendingTimers).toBe(0)
    expect(monitor.snapshot()).toEqual({})
    await clock.advance(5_000)
    expect(sw.inits).toEqual([0])
  })

  it('tracks new instances and forgets unregistered ones', async () => {
    const { monitor, registry, instance } = await setup()
    await monitor.checkAll()
    const [other] = await registry.register(agent('other'))
    expect(Object.keys(await monitor.checkAll())).toEqual([instance.id, other.id])
    registry.unregister('worker')
    expect(Object.keys(await monitor.checkAll())).toEqual([other.id])
    expect(monitor.health(instance.id)).toBeUndefined()
  })

  it('joins a round in progress and ignores a listener that throws', async () => {
    const { monitor, instance } = await setup()
    monitor.onTransition(() => {
      throw new Error('bad listener')
    })
    const seen: string[] = []
    const off = monitor.onTransition((t) => seen.push(t.to))
    const a = monitor.checkAll()
    expect(monitor.checkAll()).toBe(a)
    expect((await a)[instance.id].health).toBe('HEALTHY')
    off()
    instance.metrics.record(1, false)
    instance.metrics.record(1, false)
    await monitor.checkAll()
    expect(seen).toEqual(['HEALTHY'])
  })

  it('refuses bad options with VALIDATION_FAILED', async () => {
    const { registry } = await setup()
    expect(await codeOf(() => new HealthMonitor(registry, { intervalMs: 0 }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => new HealthMonitor(registry, { errorRateThreshold: 2 }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => new HealthMonitor(registry, { failureThreshold: 1.5 }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => new HealthMonitor(registry, { bogus: 1 } as HealthMonitorOptions))).toBe(
      'VALIDATION_FAILED',
    )
  })
})
