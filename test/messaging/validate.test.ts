import { describe, expect, it } from 'vitest'
import { isFlotillaError } from '../../src/core/errors.js'
import { clonePayload, serializePayload } from '../../src/messaging/validate.js'

function failure(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return isFlotillaError(err) ? { code: err.code, message: err.message, details: err.details } : err
  }
  return 'no error'
}

describe('clonePayload', () => {
  it('gives what a JSON round trip gives, as a new object', () => {
    const proto = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>
    const values: unknown[] = [
      null,
      0,
      -0,
      1.5e-300,
      'text',
      'é\u0000\ud800',
      true,
      [],
      {},
      [1, [2, [3]]],
      { a: { b: [null, { c: 'd' }] }, 10: 'ten', 2: 'two', z: false },
      proto,
      Object.create(null) as object,
    ]
    for (const v of values) {
      const copy = clonePayload(v, 1024)
      expect(copy).toStrictEqual(JSON.parse(JSON.stringify(v)))
      expect(JSON.stringify(copy)).toBe(JSON.stringify(v))
      if (typeof v === 'object' && v !== null) expect(copy).not.toBe(v)
    }
    expect(Object.is(clonePayload(-0, 10), 0)).toBe(true)
    const copied = clonePayload(proto, 1024) as Record<string, unknown>
    expect(Object.getPrototypeOf(copied)).toBe(Object.prototype)
    expect(Object.keys(copied)).toEqual(['__proto__', 'a'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('copies a shared (not circular) object at each place, like JSON does', () => {
    const shared = { n: 1 }
    const copy = clonePayload({ x: shared, y: [shared] }, 1024) as { x: { n: number }; y: Array<{ n: number }> }
    expect(copy).toEqual({ x: { n: 1 }, y: [{ n: 1 }] })
    expect(copy.x).not.toBe(copy.y[0])
  })

  it('fails exactly as serializePayload does: non-JSON values and sizes over the limit', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const sparse = [1, , 3] // eslint-disable-line no-sparse-arrays
    const bad: unknown[] = [
      undefined,
      () => 1,
      10n,
      Number.NaN,
      Infinity,
      Symbol('s'),
      { d: new Date() },
      cyclic,
      sparse,
      new Map(),
      'x'.repeat(2000),
      { k: 'é'.repeat(600) },
    ]
    for (const v of bad) {
      const expected = failure(() => serializePayload(v, 1024, 'event'))
      expect(expected).toMatchObject({ code: 'VALIDATION_FAILED' })
      expect(failure(() => clonePayload(v, 1024, 'event'))).toEqual(expected)
    }
    // A loose size bound that is over the limit falls back to the exact size: this fits.
    expect(clonePayload('"'.repeat(400), 1024)).toBe('"'.repeat(400))
  })
})
