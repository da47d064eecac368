import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import type { AnyAgentDefinition } from '../../src/agents/define-agent.js'
import { Registry } from '../../src/registry/registry.js'
import { agent, codeOf } from './helpers.js'

function registry(): Registry {
  return new Registry({ clock: new FakeClock() })
}

describe('Registry', () => {
  describe('register', () => {
    it('starts the requested instances and makes them discoverable', async () => {
      const reg = registry()
      const instances = await reg.register(agent('scanner', { capabilities: ['scan'], tags: ['security'] }), {
        instances: 3,
      })
      expect(instances).toHaveLength(3)
      expect(instances.every((i) => i.state === 'READY')).toBe(true)
      expect(new Set(instances.map((i) => i.id)).size).toBe(3)
      expect(reg.instances()).toEqual(instances)
      expect(reg.getInstance(instances[1].id)).toBe(instances[1])
      expect(reg.getInstance('agt_missing')).toBeUndefined()
      expect(reg.definitions().map((d) => d.name)).toEqual(['scanner'])
      expect(reg.has('scanner')).toBe(true)
      expect(reg.has('fixer')).toBe(false)
      expect(reg.hasCapability('scan')).toBe(true)
      expect(reg.hasCapability('fix')).toBe(false)
    })

    it('starts one instance by default', async () => {
      const reg = registry()
      expect(await reg.register(agent('solo'))).toHaveLength(1)
    })

    it('refuses the same name and version with AGENT_DUPLICATE, also while the first is starting', async () => {
      const reg = registry()
      await reg.register(agent('dup'))
      expect(await codeOf(() => reg.register(agent('dup')))).toBe('AGENT_DUPLICATE')
      await reg.register(agent('dup', { version: '1.1.0' }))
      let release = (): void => undefined
      const slow = agent('slow', { initialize: () => new Promise<void>((r) => (release = r)) })
      const first = reg.register(slow)
      expect(await codeOf(() => reg.register(slow))).toBe('AGENT_DUPLICATE')
      release()
      await first
      expect(reg.findByName('dup').map((d) => d.version)).toEqual(['1.1.0', '1.0.0'])
    })

    it('refuses something that is not a definition with AGENT_INVALID, and bad counts with VALIDATION_FAILED', async () => {
      const reg = registry()
      expect(await codeOf(() => reg.register({ name: 'x' } as unknown as AnyAgentDefinition))).toBe('AGENT_INVALID')
      expect(await codeOf(() => reg.register(agent('x'), { instances: 0 }))).toBe('VALIDATION_FAILED')
      expect(await codeOf(() => reg.register(agent('x'), { instances: 1.5 }))).toBe('VALIDATION_FAILED')
      expect(reg.has('x')).toBe(false)
    })

    it('rejects an initialize failure with AGENT_INIT_FAILED and leaves nothing registered', async () => {
      const reg = registry()
      let n = 0
      const flaky = agent('flaky', {
        capabilities: ['flake'],
        initialize: () => {
          if (++n === 2) throw new Error('port in use')
        },
      })
      expect(await codeOf(() => reg.register(flaky, { instances: 3 }))).toBe('AGENT_INIT_FAILED')
      expect(reg.has('flaky')).toBe(false)
      expect(reg.hasCapability('flake')).toBe(false)
      expect(reg.instances()).toEqual([])
      // Nothing half-written: the same name and version can be registered again.
      n = 10
      expect(await reg.register(flaky)).toHaveLength(1)
    })

    it('validates its options with VALIDATION_FAILED', async () => {
      expect(await codeOf(() => new Registry({ strategy: 'random' as never }))).toBe('VALIDATION_FAILED')
      expect(await codeOf(() => new Registry({ circuitBreaker: { failureThreshold: 0 } }))).toBe('VALIDATION_FAILED')
    })
  })

  describe('lookup', () => {
    it('finds definitions by name, capability and tag', async () => {
      const reg = registry()
      await reg.register(agent('scanner', { capabilities: ['scan'], tags: ['security', 'fast'] }))
      await reg.register(agent('fixer', { capabilities: ['fix', 'scan'], tags: ['security'] }))
      await reg.register(agent('writer', { capabilities: ['write'] }))
      expect(reg.findByName('scanner').map((d) => d.name)).toEqual(['scanner'])
      expect(reg.findByName('nobody')).toEqual([])
      expect(reg.findByCapability('scan').map((d) => d.name)).toEqual(['scanner', 'fixer'])
      expect(reg.findByCapability('nothing')).toEqual([])
      expect(reg.findByTag('security').map((d) => d.name)).toEqual(['scanner', 'fixer'])
      expect(reg.findByTag('fast').map((d) => d.name)).toEqual(['scanner'])
    })

    it('returns the latest semantic version when none is asked for', async () => {
      const reg = registry()
      for (const version of ['1.2.0', '1.10.0', '2.0.0-rc.1', '1.9.3']) await reg.register(agent('multi', { version }))
      expect(reg.getDefinition('multi')?.version).toBe('2.0.0-rc.1')
      await reg.register(agent('multi', { version: '2.0.0' }))
      expect(reg.getDefinition('multi')?.version).toBe('2.0.0')
      expect(reg.getDefinition('multi', '1.9.3')?.version).toBe('1.9.3')
      expect(reg.getDefinition('multi', '3.0.0')).toBeUndefined()
      expect(reg.getDefinition('nobody')).toBeUndefined()
      expect(reg.findByName('multi').map((d) => d.version)).toEqual(['2.0.0', '2.0.0-rc.1', '1.10.0', '1.9.3', '1.2.0'])
    })
  })

  describe('pool', () => {
    it('is cached per selector and follows later registrations', async () => {
      const reg = registry()
      const [a] = await reg.register(agent('scanner', { capabilities: ['fix'] }))
      const pool = reg.pool({ capability: 'fix' })
      expect(pool.key).toBe('capability:fix')
      expect(reg.pool({ capability: 'fix' })).toBe(pool)
      expect(pool.instances).toEqual([a])
      const [b, c] = await reg.register(agent('fixer', { capabilities: ['fix'] }), { instances: 2 })
      expect(pool.instances).toEqual([a, b, c])
      expect(b.pools.has(pool)).toBe(true)
      const exact = reg.pool({ agent: 'fixer', version: '1.0.0' })
      expect(exact.key).toBe('agent:fixer@1.0.0')
      expect(exact.instances).toEqual([b, c])
    })

    it('serves the latest version for an agent selector without version, across (un)registrations', async () => {
      const reg = registry()
      const v1 = await reg.register(agent('svc', { version: '1.0.0' }))
      const pool = reg.pool({ agent: 'svc' })
      expect(pool.key).toBe('agent:svc')
      expect(pool.instances).toEqual(v1)
      const v2 = await reg.register(agent('svc', { version: '2.0.0' }), { instances: 2 })
      expect(pool.instances).toEqual(v2)
      expect(v1[0].pools.has(pool)).toBe(false)
      await reg.register(agent('svc', { version: '1.5.0' }))
      expect(pool.instances).toEqual(v2)
      reg.unregister('svc', '2.0.0')
      expect(reg.getDefinition('svc')?.version).toBe('1.5.0')
      expect(pool.instances.map((i) => i.definition.version)).toEqual(['1.5.0'])
      expect(reg.pool({ agent: 'svc' })).toBe(pool)
    })

    it('throws AGENT_NOT_FOUND, listing the registered names, when nothing matches', async () => {
      const reg = registry()
      await reg.register(agent('scanner', { capabilities: ['scan'] }))
      for (const selector of [{ agent: 'nobody' }, { agent: 'scanner', version: '9.9.9' }, { capability: 'fly' }]) {
        let caught: unknown
        try {
          reg.pool(selector)
        } catch (err) {
          caught = err
        }
        expect(caught).toMatchObject({ code: 'AGENT_NOT_FOUND', details: { registered: ['scanner'] } })
      }
      // A cached pool whose agents were all unregistered is not found either.
      reg.pool({ capability: 'scan' })
      reg.unregister('scanner')
      expect(await codeOf(() => reg.pool({ capability: 'scan' }))).toBe('AGENT_NOT_FOUND')
      expect(await codeOf(() => reg.pool({ agent: '' }))).toBe('VALIDATION_FAILED')
    })
  })

  describe('unregister', () => {
    it('stops the instances and removes them from every pool and index', async () => {
      const reg = registry()
      await reg.register(agent('keep', { capabilities: ['fix'] }))
      const gone = await reg.register(agent('drop', { capabilities: ['fix'], tags: ['old'] }), { instances: 2 })
      const pool = reg.pool({ capability: 'fix' })
      const exact = reg.pool({ agent: 'drop', version: '1.0.0' })
      expect(pool.instances).toHaveLength(3)
      reg.unregister('drop', '1.0.0')
      expect(gone.every((i) => i.state === 'STOPPED' && i.pools.size === 0)).toBe(true)
      expect(pool.instances.map((i) => i.definition.name)).toEqual(['keep'])
      expect(exact.instances).toEqual([])
      expect(reg.has('drop')).toBe(false)
      expect(reg.findByTag('old')).toEqual([])
      expect(reg.getInstance(gone[0].id)).toBeUndefined()
      expect(reg.instances()).toHaveLength(1)
    })

    it('removes every version when none is given, and throws AGENT_NOT_FOUND for an unknown agent', async () => {
      const reg = registry()
      await reg.register(agent('svc', { version: '1.0.0' }))
      await reg.register(agent('svc', { version: '2.0.0' }))
      expect(await codeOf(() => reg.unregister('svc', '3.0.0'))).toBe('AGENT_NOT_FOUND')
      reg.unregister('svc')
      expect(reg.definitions()).toEqual([])
      expect(await codeOf(() => reg.unregister('svc'))).toBe('AGENT_NOT_FOUND')
      // The version can be registered again afterwards.
      expect(await reg.register(agent('svc', { version: '1.0.0' }))).toHaveLength(1)
    })
  })

  describe('metrics', () => {
    it('aggregates the instances of each version', async () => {
      const reg = registry()
      const [a, b] = await reg.register(agent('m', { capabilities: ['c'] }), { instances: 2 })
      await reg.register(agent('idle', { version: '0.1.0' }))
      const pool = reg.pool({ agent: 'm' })
      for (const [inst, ms, ok] of [
        [a, 10, true],
        [a, 20, true],
        [b, 30, false],
        [b, 60, true],
      ] as const) {
        pool.release(taken(pool, inst), ms, ok)
      }
      const all = reg.metrics()
      expect(Object.keys(all).sort()).toEqual(['idle@0.1.0', 'm@1.0.0'])
      expect(all['m@1.0.0']).toEqual({
        agent: 'm',
        version: '1.0.0',
        instances: 2,
        calls: 4,
        errors: 1,
        successRate: 0.75,
        meanLatencyMs: 30,
        p95LatencyMs: 60,
        circuit: 'CLOSED',
        lateHandlers: 0,
      })
      expect(all['idle@0.1.0']).toMatchObject({
        calls: 0,
        successRate: 1,
        meanLatencyMs: 0,
        p95LatencyMs: 0,
        circuit: 'CLOSED',
      })
      for (let i = 0; i < 5; i++) b.breaker.onFailure()
      expect(reg.metrics()['m@1.0.0'].circuit).toBe('OPEN')
    })
  })

  describe('healthCheckAll', () => {
    it('reports every instance, keyed by id', async () => {
      const reg = registry()
      const [plain] = await reg.register(agent('plain'))
      const [sick] = await reg.register(agent('sick', { healthCheck: () => ({ healthy: false, detail: 'disk full' }) }))
      const [broken] = await reg.register(
        agent('broken', { healthCheck: () => Promise.reject(new Error('no answer')) }),
      )
      const [falsy] = await reg.register(agent('falsy', { healthCheck: () => false }))
      const [failed] = await reg.register(agent('failed', { healthCheck: () => true }))
      failed.state = 'FAILED'
      const report = await reg.healthCheckAll()
      expect(Object.keys(report).sort()).toEqual([plain.id, sick.id, broken.id, falsy.id, failed.id].sort())
      expect(report[plain.id]).toEqual({ healthy: true })
      expect(report[sick.id]).toEqual({ healthy: false, detail: 'disk full' })
      expect(report[broken.id].healthy).toBe(false)
      expect(report[falsy.id].healthy).toBe(false)
      expect(report[failed.id].healthy).toBe(false)
    })
  })
})

/** Acquires from `pool` until `inst` comes up (round-robin), releasing nothing else. */
function taken(pool: ReturnType<Registry['pool']>, inst: ReturnType<Registry['instances']>[number]) {
  for (let i = 0; i < pool.instances.length; i++) {
    const got = pool.acquire()
    if (got === inst) return got
    if (typeof got !== 'string') pool.abandon(got)
  }
  throw new Error('instance not acquired')
}
