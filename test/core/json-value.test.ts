import { describe, expect, it } from 'vitest'
import { checkJsonValue, findJsonProblem, JSON_MAX_DEPTH } from '../../src/core/json-value.js'

describe('findJsonProblem', () => {
  it('accepts plain JSON, undefined keys, null-prototype objects, -0 and shared (acyclic) references', () => {
    const shared = { s: [1] }
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 })
    const values: unknown[] = [
      null,
      0,
      -0,
      1.5e-300,
      '',
      'é',
      true,
      false,
      [],
      {},
      [1, [2, [3]]],
      { x: shared, y: [shared], z: undefined, bare },
    ]
    for (const v of values) expect(findJsonProblem(v)).toBeUndefined()
    const symbolKey = { [Symbol('k')]: () => 1, ok: 1 }
    expect(findJsonProblem(symbolKey)).toBeUndefined()
  })

  it.each([
    ['a BigInt', { items: [{ n: 1 }, { n: 10n }] }, '$.items[1].n', 'bigint', /String\(n\)/],
    ['NaN', [Number.NaN], '$[0]', 'non-finite', /finite/],
    ['-Infinity', { a: { b: -Infinity } }, '$.a.b', 'non-finite', /finite/],
    ['a function', { 'odd key': () => 1 }, '$["odd key"]', 'function', /function/],
    ['a symbol', { s: Symbol('s') }, '$.s', 'symbol', /symbol/],
    ['undefined at the root', undefined, '$', 'undefined', /use null/],
    ['undefined in an array', [1, undefined], '$[1]', 'undefined', /use null/],
    ['a hole', [1, , 3], '$[1]', 'hole', /hole/], // eslint-disable-line no-sparse-arrays
    ['a Map', { m: new Map() }, '$.m', 'instance', /Map object.*Object\.fromEntries/],
    ['a Set', new Set(), '$', 'instance', /Set object/],
    ['a Date', { d: new Date(0) }, '$.d', 'instance', /Date object.*toISOString/],
    [
      'a class instance',
      {
        p: new (class Point {
          x = 1
        })(),
      },
      '$.p',
      'instance',
      /Point object/,
    ],
    ['a boxed string', { s: Object('x') as object }, '$.s', 'instance', /String object/],
    ['bytes', { b: Buffer.from('x') }, '$.b', 'bytes', /base64/],
    ['an ArrayBuffer', [new ArrayBuffer(1)], '$[0]', 'bytes', /base64/],
  ])('refuses %s, naming its path, kind, what it is and how to fix it', (_label, value, path, kind, text) => {
    const problem = findJsonProblem(value)
    expect(problem).toMatchObject({ path, kind })
    expect(`${problem?.reason}; ${problem?.fix}`).toMatch(text)
  })

  it('tells a cycle (at the back reference) from deep nesting', () => {
    const cyclic: Record<string, unknown> = { a: { list: [1] } }
    ;((cyclic.a as Record<string, unknown>).list as unknown[]).push(cyclic)
    expect(findJsonProblem(cyclic)).toMatchObject({
      path: '$.a.list[1]',
      kind: 'cycle',
      reason: expect.stringMatching(/cycle/),
    })
    const self: Record<string, unknown> = {}
    self.self = self
    expect(findJsonProblem(self, 'content')).toMatchObject({ path: 'content.self', kind: 'cycle' })
    let deep: unknown = 1
    for (let i = 0; i < JSON_MAX_DEPTH; i++) deep = [deep]
    expect(findJsonProblem(deep)).toBeUndefined()
    expect(findJsonProblem([deep])).toMatchObject({
      kind: 'too-deep',
      reason: expect.stringMatching(/deeper than 1000/),
    })
  })

  it('checks values JSON.stringify would accept or refuse alike, or refuses what would not read back', () => {
    const samples: unknown[] = [{ a: 1n }, { a: new Date(0) }, { a: [undefined] }, { a: undefined }, { a: { b: 'c' } }]
    for (const s of samples) {
      const problem = findJsonProblem(s)
      if (problem === undefined) expect(JSON.parse(JSON.stringify(s))).toEqual(s)
      else expect(() => expect(JSON.parse(JSON.stringify(s))).toStrictEqual(s)).toThrow()
    }
  })
})

describe('checkJsonValue', () => {
  it('throws VALIDATION_FAILED (or the given code) naming what, the path and the kind', () => {
    expect(() => checkJsonValue({ n: 10n }, 'The payload')).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        message: expect.stringMatching(/^The payload is not JSON: \$\.n is a BigInt; /),
        details: { path: '$.n', reason: 'bigint' },
      }),
    )
    expect(() =>
      checkJsonValue([new Map()], 'x', { code: 'AGENT_OUTPUT_INVALID', root: 'output', details: { agent: 'a' } }),
    ).toThrow(
      expect.objectContaining({
        code: 'AGENT_OUTPUT_INVALID',
        details: { agent: 'a', path: 'output[0]', reason: 'instance' },
      }),
    )
    expect(() => checkJsonValue({ ok: [1, 'a', null] }, 'x')).not.toThrow()
  })

  it('walks a large plain value quickly', () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      id: i,
      name: `row ${i}`,
      tags: ['a', 'b'],
      ok: i % 2 === 0,
      score: i / 3,
    }))
    const started = performance.now()
    for (let i = 0; i < 5; i++) checkJsonValue({ rows }, 'rows')
    expect(performance.now() - started).toBeLessThan(1000)
  })
})
