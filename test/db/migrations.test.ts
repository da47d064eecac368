import { describe, expect, it } from 'vitest'
import { defineDomain, DOMAIN_NAMES, orderDomains, planMigrations } from '../../src/db/migrations.js'

const m = (version: number): { version: number; name: string; up: string } => ({ version, name: `v${version}`, up: '' })

describe('migration domains', () => {
  it('are registered by name, store first', () => {
    expect(DOMAIN_NAMES[0]).toBe('store')
    expect(new Set(DOMAIN_NAMES).size).toBe(DOMAIN_NAMES.length)
  })

  it('refuse a list not numbered 1..n (INTERNAL), and are exclusive unless told otherwise', () => {
    expect(() => defineDomain('context', [m(1), m(3)])).toThrow(
      expect.objectContaining({ code: 'INTERNAL', details: { domain: 'context', version: 3 } }),
    )
    expect(defineDomain('store', [m(1)]).exclusive).toBe(true)
    expect(defineDomain('bus', [m(1)], { exclusive: false }).exclusive).toBe(false)
  })

  it('plan what is missing, oldest first, and refuse a newer stored version with STORE_SCHEMA_TOO_NEW', () => {
    const d = defineDomain('context', [m(1), m(2), m(3)])
    expect(planMigrations(d, [], 'x').map((x) => x.version)).toEqual([1, 2, 3])
    expect(planMigrations(d, [1, 2], 'x').map((x) => x.version)).toEqual([3])
    expect(() => planMigrations(d, [1, 2, 3, 4], '"f.db"')).toThrow(
      expect.objectContaining({
        code: 'STORE_SCHEMA_TOO_NEW',
        details: { store: '"f.db"', domain: 'context', storedVersion: 4, supportedVersion: 3 },
      }),
    )
  })

  it('order several domains as registered, and refuse two lists under one name', () => {
    const store = defineDomain('store', [m(1)])
    const bus = defineDomain('bus', [m(1)])
    const context = defineDomain('context', [m(1)])
    expect(orderDomains([bus, context, store, bus]).map((d) => d.name)).toEqual(['store', 'context', 'bus'])
    expect(() => orderDomains([store, defineDomain('store', [m(1)])])).toThrow(
      expect.objectContaining({ code: 'INTERNAL' }),
    )
  })
})
