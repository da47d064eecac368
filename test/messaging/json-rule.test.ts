import { describe, expect, it } from 'vitest'
import { encodeContent } from '../../src/context/encode.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { findJsonProblem } from '../../src/core/json-value.js'
import { clonePayload, serializePayload } from '../../src/messaging/validate.js'
import { checkOutput } from '../../src/workflows/task-io.js'
import { defineAgent } from '../../src/agents/define-agent.js'

function codeAndDetails(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return isFlotillaError(err) ? { code: err.code, details: err.details } : err
  }
  return 'accepted'
}

const cyclic: Record<string, unknown> = { a: 1 }
cyclic.self = cyclic
let deep: unknown = 1
for (let i = 0; i < 1001; i++) deep = [deep]
const sparse = [1, , 3] // eslint-disable-line no-sparse-arrays

/** Values on both sides of the rule, each with where it breaks it (or undefined). */
const samples: Array<[string, unknown, string | undefined]> = [
  ['undefined key', { a: 1, gone: undefined }, undefined],
  ['plain', [1, 'x', null, { b: [true] }], undefined],
  ['BigInt', { n: 10n }, '.n'],
  ['Map', { m: new Map() }, '.m'],
  ['Date', { d: new Date(0) }, '.d'],
  ['undefined in array', [1, undefined], '[1]'],
  ['hole', sparse, '[1]'],
  ['cycle', cyclic, '.self'],
  ['too deep', deep, '[0]'],
  ['function', { f: () => 1 }, '.f'],
  ['NaN', { x: Number.NaN }, '.x'],
]

describe('one JSON rule for task outputs, bus payloads and artifacts', () => {
  it.each(samples)('%s: the same verdict and path everywhere', (_label, value, at) => {
    const agent = defineAgent({ name: 'j', handler: () => null })
    const bus = codeAndDetails(() => serializePayload(value, 1e7, 'payload'))
    const cloned = codeAndDetails(() => clonePayload(value, 1e7, 'payload'))
    const artifact = codeAndDetails(() => encodeContent(value, 1e9))
    const output = codeAndDetails(() => checkOutput(agent, value))
    if (at === undefined) {
      expect(findJsonProblem(value)).toBeUndefined()
      for (const r of [bus, cloned, artifact, output]) expect(r).toBe('accepted')
      expect(clonePayload(value, 1e7)).toEqual(JSON.parse(JSON.stringify(value)))
      return
    }
    const path = (root: string): string =>
      at === '[0]'
        ? (expect.stringMatching(new RegExp(`^${root.replace('$', '\\$')}(\\[0\\])+$`)) as unknown as string)
        : `${root}${at}`
    expect(findJsonProblem(value)?.path).toEqual(path('$'))
    expect(bus).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'payload', reason: 'not_serialisable', path: path('payload') },
    })
    expect(cloned).toEqual(bus)
    expect(artifact).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'content', path: path('content') } })
    expect(output).toMatchObject({ code: 'AGENT_OUTPUT_INVALID', details: { agent: 'j', path: path('$') } })
  })
})
