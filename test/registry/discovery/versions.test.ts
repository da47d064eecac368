import { describe, expect, it } from 'vitest'
import { Registry } from '../../../src/registry/registry.js'
import { resolveVersion } from '../../../src/registry/discovery/versions.js'
import { agent, codeOf } from '../helpers.js'

async function registryWith(...versions: string[]): Promise<Registry> {
  const registry = new Registry()
  for (const version of versions) await registry.register(agent('fixer', { version }))
  return registry
}

describe('resolveVersion', () => {
  it('returns the highest registered version in the range', async () => {
    const registry = await registryWith('1.0.0', '1.10.0', '1.2.0', '2.0.0', '3.0.0-rc.1')
    expect(resolveVersion(registry, 'fixer', '^1.0.0').version).toBe('1.10.0')
    expect(resolveVersion(registry, 'fixer', '~1.2').version).toBe('1.2.0')
    expect(resolveVersion(registry, 'fixer', '*').version).toBe('2.0.0')
    expect(resolveVersion(registry, 'fixer', '1.0.0 || >=2.0.0').version).toBe('2.0.0')
    expect(resolveVersion(registry, 'fixer', '>=3.0.0-rc.0').version).toBe('3.0.0-rc.1')
    expect(resolveVersion(registry, 'fixer', '^1.0.0')).toBe(registry.getDefinition('fixer', '1.10.0'))
  })

  it('throws VERSION_NOT_SATISFIED listing the registered versions', async () => {
    const registry = await registryWith('1.0.0', '1.2.0')
    let error: unknown
    try {
      resolveVersion(registry, 'fixer', '^2.0.0')
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({
      code: 'VERSION_NOT_SATISFIED',
      details: { agent: 'fixer', range: '^2.0.0', registered: ['1.2.0', '1.0.0'] },
    })
    expect((error as Error).message).toContain('1.2.0, 1.0.0')
    expect((error as Error).message).toContain('"^2.0.0"')
  })

  it('throws AGENT_NOT_FOUND for an unknown agent and VALIDATION_FAILED for a malformed range', async () => {
    const registry = await registryWith('1.0.0')
    expect(await codeOf(() => resolveVersion(registry, 'nobody', '^1.0.0'))).toBe('AGENT_NOT_FOUND')
    expect(await codeOf(() => resolveVersion(registry, 'fixer', '^^1'))).toBe('VALIDATION_FAILED')
  })

  it('follows registrations: a new version inside the range becomes the answer', async () => {
    const registry = await registryWith('1.0.0')
    expect(resolveVersion(registry, 'fixer', '^1.0.0').version).toBe('1.0.0')
    await registry.register(agent('fixer', { version: '1.1.0' }))
    expect(resolveVersion(registry, 'fixer', '^1.0.0').version).toBe('1.1.0')
    registry.unregister('fixer', '1.1.0')
    expect(resolveVersion(registry, 'fixer', '^1.0.0').version).toBe('1.0.0')
  })
})
