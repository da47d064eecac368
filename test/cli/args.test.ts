import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { parseInputs, parseInputValue, splitArgs, validateOptions } from '../../src/cli/args.js'
import { isFlotillaError } from '../../src/core/errors.js'

function usage(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    if (isFlotillaError(e) && e.code === 'CLI_USAGE') return e.message
    throw e
  }
  throw new Error('expected a CLI_USAGE error')
}

describe('parseInputValue', () => {
  it('reads JSON when the text is JSON, else keeps the text', () => {
    expect(parseInputValue('42')).toBe(42)
    expect(parseInputValue('true')).toBe(true)
    expect(parseInputValue('null')).toBe(null)
    expect(parseInputValue('{"a":[1]}')).toEqual({ a: [1] })
    expect(parseInputValue('"7"')).toBe('7')
    expect(parseInputValue('hello')).toBe('hello')
    expect(parseInputValue('')).toBe('')
    expect(parseInputValue('1.2.3')).toBe('1.2.3')
  })
})

describe('parseInputs', () => {
  it('builds nested objects from dotted keys and keeps "=" inside values', () => {
    expect(parseInputs('run', ['a.b=1', 'a.c=x', 'eq=k=v', 'top=false'])).toEqual({
      a: { b: 1, c: 'x' },
      eq: 'k=v',
      top: false,
    })
  })

  it('keeps the text of an input declared "type: string", and parses the others as JSON', () => {
    const declared = {
      name: { type: 'string' as const },
      code: { type: 'string' as const },
      n: { type: 'number' as const },
    }
    expect(parseInputs('run', ['name=42', 'code=true', 'n=7', 'other=42'], declared)).toEqual({
      name: '42',
      code: 'true',
      n: 7,
      other: 42,
    })
    expect(parseInputs('run', ['toString=1'], declared)).toEqual({ toString: 1 })
  })

  it('rejects malformed pairs, repeated keys and conflicts with CLI_USAGE', () => {
    expect(usage(() => parseInputs('run', ['novalue']))).toContain('key=value')
    expect(usage(() => parseInputs('run', ['=1']))).toContain('key=value')
    expect(usage(() => parseInputs('run', ['a..b=1']))).toContain('malformed')
    expect(usage(() => parseInputs('run', ['constructor.x=1']))).toContain('malformed')
    expect(usage(() => parseInputs('run', ['a=1', 'a=2']))).toContain('twice')
    expect(usage(() => parseInputs('run', ['a=1', 'a.b=2']))).toContain('conflicts')
  })
})

describe('splitArgs', () => {
  const flags = {
    json: { type: 'boolean' },
    input: { type: 'string', multiple: true, short: 'i' },
    concurrency: { type: 'string' },
  } as const

  it('collects flags and positionals', () => {
    expect(splitArgs('run', ['wf.yaml', '--json', '-i', 'a=1', '--input', 'b=2'], flags)).toEqual({
      values: { json: true, input: ['a=1', 'b=2'] },
      positionals: ['wf.yaml'],
    })
  })

  it('turns parse failures into CLI_USAGE naming the flag', () => {
    expect(usage(() => splitArgs('run', ['--nope'], flags))).toContain('Unknown flag "--nope"')
    expect(usage(() => splitArgs('run', ['--concurrency'], flags))).toContain('--concurrency')
    expect(usage(() => splitArgs('run', ['--json=yes'], flags))).toContain('takes no value')
  })
})

describe('validateOptions', () => {
  const schema = z.object({ id: z.string({ error: 'missing' }), limit: z.number().optional() })
  it('names a missing positional argument as the help does, not as a flag', () => {
    expect(usage(() => validateOptions('runs show', schema, {}))).toBe('"flotilla runs show" <run-id>: missing.')
    expect(usage(() => validateOptions('agent show', schema, {}, { id: '<name>' }))).toBe(
      '"flotilla agent show" <name>: missing.',
    )
    expect(usage(() => validateOptions('runs list', schema, { id: 'x', limit: 'many' }))).toContain('--limit')
  })
})
