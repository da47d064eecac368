import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { AgentInstance } from '../../src/registry/agent-instance.js'
import { agent } from './helpers.js'

describe('AgentInstance', () => {
  it('starts STARTING, runs initialize once, then is READY and available', async () => {
    let calls = 0
    const inst = new AgentInstance(agent('init-ok', { initialize: () => void calls++, maxConcurrency: 2 }), {
      clock: new FakeClock(),
    })
    expect(inst.state).toBe('STARTING')
    expect(inst.available).toBe(false)
    await inst.start()
    expect(calls).toBe(1)
    expect(inst.state).toBe('READY')
    expect(inst.id).toMatch(/^agt_/)
    expect(inst.available).toBe(true)
    inst.active = 2
    expect(inst.hasCapacity).toBe(false)
    expect(inst.available).toBe(false)
  })

  it('turns an initialize failure into AGENT_INIT_FAILED with the cause, and state FAILED', async () => {
    const boom = new Error('no database')
    const inst = new AgentInstance(agent('init-bad', { initialize: () => Promise.reject(boom) }))
    const err = await inst.start().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isFlotillaError(err) && err.code).toBe('AGENT_INIT_FAILED')
    expect((err as Error).cause).toBe(boom)
    expect(inst.state).toBe('FAILED')
  })

  it('stays STOPPED when stopped while initializing', async () => {
    let finish = (): void => undefined
    const inst = new AgentInstance(agent('slow-init', { initialize: () => new Promise<void>((r) => (finish = r)) }))
    const started = inst.start()
    inst.stop()
    finish()
    await started
    expect(inst.state).toBe('STOPPED')
  })

  it('is not available with an open circuit', async () => {
    const inst = new AgentInstance(agent('breaker'), {
      clock: new FakeClock(),
      circuitBreaker: { failureThreshold: 1 },
    })
    await inst.start()
    inst.breaker.onFailure()
    expect(inst.available).toBe(false)
  })

  it('gives a JSON-safe snapshot', async () => {
    const inst = new AgentInstance(agent('snap', { version: '2.1.0' }), { clock: new FakeClock() })
    await inst.start()
    inst.metrics.record(12, true)
    const snap = inst.snapshot()
    expect(snap).toMatchObject({
      id: inst.id,
      agent: 'snap',
      version: '2.1.0',
      state: 'READY',
      active: 0,
      circuit: 'CLOSED',
    })
    expect(snap.metrics.calls).toBe(1)
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap)
  })

  describe('checkHealth', () => {
    it('is healthy when READY without a hook, unhealthy otherwise', async () => {
      const inst = new AgentInstance(agent('no-hook'))
      expect((await inst.checkHealth()).healthy).toBe(false)
      await inst.start()
      expect(await inst.checkHealth()).toEqual({ healthy: true })
      inst.stop()
      expect(await inst.checkHealth()).toEqual({ healthy: false, detail: 'instance is STOPPED' })
    })

    it('follows the hook: true, false, an object, a throw', async () => {
      const cases = [
        { hook: () => true, healthy: true },
        { hook: () => false, healthy: false },
        { hook: async () => ({ healthy: false, detail: 'disk full' }), healthy: false, detail: 'disk full' },
        { hook: () => ({ healthy: true, detail: 'ok' }), healthy: true, detail: 'ok' },
        {
          hook: (): boolean => {
            throw new Error('socket closed')
          },
          healthy: false,
          detail: 'healthCheck threw: socket closed',
        },
      ]
      for (const c of cases) {
        const inst = new AgentInstance(agent('hooked', { healthCheck: c.hook }))
        await inst.start()
        const report = await inst.checkHealth()
        expect(report.healthy).toBe(c.healthy)
        if (c.detail) expect(report.detail).toBe(c.detail)
      }
    })

    it('counts a hook that does not answer within the timeout as unhealthy', async () => {
      const clock = new FakeClock()
      const inst = new AgentInstance(agent('hangs', { healthCheck: () => new Promise<boolean>(() => undefined) }), {
        clock,
      })
      await inst.start()
      let report: unknown
      const pending = inst.checkHealth(1_000).then((r) => (report = r))
      await clock.advance(999)
      expect(report).toBeUndefined()
      await clock.advance(1)
      await pending
      expect(report).toMatchObject({ healthy: false })
      expect(clock.pendingTimers).toBe(0)
    })

    it('clears its timer when the hook answers', async () => {
      const clock = new FakeClock()
      const inst = new AgentInstance(agent('quick', { healthCheck: () => true }), { clock })
      await inst.start()
      await inst.checkHealth()
      expect(clock.pendingTimers).toBe(0)
    })
  })
})
