import { describe, expect, it } from 'vitest'
import {
  ERROR_CODES,
  FlotillaError,
  deserializeError,
  isErrorCode,
  isFlotillaError,
  nonRetryable,
  serializeError,
  toFlotillaError,
  type SerializedError,
} from '../../src/core/errors.js'

describe('FlotillaError', () => {
  it('takes status and retryable from the table, and carries details and cause', () => {
    const cause = new Error('socket closed')
    const err = new FlotillaError('STORE_UNAVAILABLE', 'The store is down; retry later.', {
      details: { host: 'db' },
      cause,
    })
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('FlotillaError')
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.status).toBe(503)
    expect(err.retryable).toBe(true)
    expect(err.details).toEqual({ host: 'db' })
    expect(err.cause).toBe(cause)
    expect(err.message).toBe('The store is down; retry later.')
  })

  it('lets one error override the table retryable flag', () => {
    expect(new FlotillaError('TASK_FAILED', 'x').retryable).toBe(true)
    expect(new FlotillaError('TASK_FAILED', 'x', { retryable: false }).retryable).toBe(false)
    expect(new FlotillaError('INTERNAL', 'x', { retryable: true }).retryable).toBe(true)
  })

  it('defaults details to an empty object and has no cause when none is given', () => {
    const err = new FlotillaError('INTERNAL', 'boom')
    expect(err.details).toEqual({})
    expect('cause' in err).toBe(false)
  })

  it('matches every code of the table to its status', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      if (!isErrorCode(code)) throw new Error(`not a code: ${code}`)
      const err = new FlotillaError(code, 'm')
      expect([code, err.status, err.retryable]).toEqual([code, entry.status, entry.retryable])
    }
  })
})

describe('isErrorCode', () => {
  it('accepts table codes only, not inherited keys or other types', () => {
    expect(isErrorCode('TASK_TIMEOUT')).toBe(true)
    expect(isErrorCode('NOPE')).toBe(false)
    expect(isErrorCode('toString')).toBe(false)
    expect(isErrorCode('__proto__')).toBe(false)
    expect(isErrorCode(42)).toBe(false)
  })
})

describe('isFlotillaError (brand recognition)', () => {
  it('recognises a FlotillaError and rejects plain errors and non-objects', () => {
    expect(isFlotillaError(new FlotillaError('INTERNAL', 'x'))).toBe(true)
    expect(isFlotillaError(new Error('x'))).toBe(false)
    expect(isFlotillaError({ code: 'INTERNAL', message: 'x' })).toBe(false)
    expect(isFlotillaError(null)).toBe(false)
    expect(isFlotillaError(undefined)).toBe(false)
    expect(isFlotillaError('INTERNAL')).toBe(false)
  })

  it('recognises an object branded with Symbol.for("flotilla.error"), as another package copy would make', () => {
    const foreign = Object.assign(new Error('from another copy'), { code: 'TASK_FAILED' })
    Object.defineProperty(foreign, Symbol.for('flotilla.error'), { value: true })
    expect(foreign instanceof FlotillaError).toBe(false)
    expect(isFlotillaError(foreign)).toBe(true)
    // toFlotillaError keeps it as it is rather than wrapping it.
    expect(toFlotillaError(foreign)).toBe(foreign)

    const plain = { [Symbol.for('flotilla.error')]: true, code: 'TASK_FAILED' }
    expect(isFlotillaError(plain)).toBe(true)
  })

  it('does not accept a brand of another value than true, or a different symbol', () => {
    expect(isFlotillaError({ [Symbol.for('flotilla.error')]: 'yes' })).toBe(false)
    expect(isFlotillaError({ [Symbol('flotilla.error')]: true })).toBe(false)
  })

  it('keeps the brand out of JSON and enumeration', () => {
    const err = new FlotillaError('TASK_TIMEOUT', 'slow', { details: { timeoutMs: 5 } })
    expect(Object.keys(err)).not.toContain('flotilla.error')
    expect(Object.getOwnPropertySymbols(err)).toEqual([Symbol.for('flotilla.error')])
    expect(Object.prototype.propertyIsEnumerable.call(err, Symbol.for('flotilla.error'))).toBe(false)
  })

  it('loses the brand across a JSON round trip, and deserializeError restores a recognisable error', () => {
    const err = new FlotillaError('TASK_TIMEOUT', 'slow', { details: { timeoutMs: 5 } })
    const wire: unknown = JSON.parse(JSON.stringify(err))
    expect(wire).toEqual({ code: 'TASK_TIMEOUT', message: 'slow', details: { timeoutMs: 5 }, retryable: true })
    expect(isFlotillaError(wire)).toBe(false)

    const back = deserializeError(wire as SerializedError)
    expect(isFlotillaError(back)).toBe(true)
    expect(back.code).toBe('TASK_TIMEOUT')
    expect(back.status).toBe(504)
    expect(back.details).toEqual({ timeoutMs: 5 })
  })
})

describe('toFlotillaError', () => {
  it('returns an existing FlotillaError unchanged, whatever the fallback code', () => {
    const err = new FlotillaError('AGENT_NOT_FOUND', 'x')
    expect(toFlotillaError(err, 'TASK_FAILED')).toBe(err)
  })

  it('wraps an Error with the fallback code, keeping message, name and cause', () => {
    const cause = new TypeError('bad thing')
    const err = toFlotillaError(cause, 'TASK_FAILED')
    expect(err.code).toBe('TASK_FAILED')
    expect(err.retryable).toBe(true)
    expect(err.message).toBe('bad thing')
    expect(err.cause).toBe(cause)
    expect(err.details).toEqual({ name: 'TypeError' })
  })

  it('defaults to INTERNAL and uses the name when the message is empty', () => {
    const err = toFlotillaError(new RangeError(''))
    expect(err.code).toBe('INTERNAL')
    expect(err.message).toBe('RangeError')
  })

  it.each([
    ['a string', 'disk full', 'disk full', 'string'],
    ['undefined', undefined, 'undefined', 'undefined'],
    ['null', null, 'null', 'null'],
    ['a number', 42, '42', 'number'],
    ['an object', { reason: 'nope' }, '{"reason":"nope"}', 'object'],
  ])('wraps %s with its text and type', (_label, value, text, type) => {
    const err = toFlotillaError(value, 'TASK_FAILED')
    expect(isFlotillaError(err)).toBe(true)
    expect(err.code).toBe('TASK_FAILED')
    expect(err.message).toContain(`A non-Error value was thrown: ${text}.`)
    expect(err.details).toEqual({ thrownType: type })
  })

  it('does not throw on a circular object', () => {
    const circular: Record<string, unknown> = { name: 'loop' }
    circular.self = circular
    const err = toFlotillaError(circular)
    expect(err.code).toBe('INTERNAL')
    expect(err.message).toContain('[object Object]')
    expect(err.details).toEqual({ thrownType: 'object' })
  })

  it('does not throw on a BigInt or a symbol (values JSON.stringify rejects or drops)', () => {
    expect(toFlotillaError(10n).message).toContain('thrown: 10.')
    expect(toFlotillaError(Symbol('s')).message).toContain('thrown: Symbol(s).')
  })
})

describe('nonRetryable', () => {
  it('marks an Error as TASK_NON_RETRYABLE, not retryable, keeping its message and cause', () => {
    const cause = new Error('The document is not UTF-8')
    const err = nonRetryable(cause)
    expect(isFlotillaError(err)).toBe(true)
    expect(err.code).toBe('TASK_NON_RETRYABLE')
    expect(err.retryable).toBe(false)
    expect(err.status).toBe(500)
    expect(err.message).toBe('The document is not UTF-8')
    expect(err.cause).toBe(cause)
  })

  it('marks a retryable FlotillaError as not retryable', () => {
    const err = nonRetryable(new FlotillaError('STORE_UNAVAILABLE', 'down'))
    expect(err.code).toBe('TASK_NON_RETRYABLE')
    expect(err.retryable).toBe(false)
  })

  it('accepts a non-Error value', () => {
    const err = nonRetryable('stop')
    expect(err.message).toBe('stop')
    expect(err.retryable).toBe(false)
  })
})

describe('serializeError / deserializeError', () => {
  it('round-trips code, message, details and retryable', () => {
    const err = new FlotillaError('STORE_CONFLICT', 'stale attempt', {
      details: { runId: 'run_1', attempt: 2 },
      retryable: true,
    })
    const json = serializeError(err)
    expect(json).toEqual({
      code: 'STORE_CONFLICT',
      message: 'stale attempt',
      details: { runId: 'run_1', attempt: 2 },
      retryable: true,
    })
    const back = deserializeError(JSON.parse(JSON.stringify(json)) as SerializedError)
    expect(back).toBeInstanceOf(FlotillaError)
    expect(back.toJSON()).toEqual(json)
    expect(back.status).toBe(409)
  })

  it('serialises anything thrown, through toFlotillaError', () => {
    expect(serializeError(new Error('boom'))).toEqual({
      code: 'INTERNAL',
      message: 'boom',
      details: { name: 'Error' },
      retryable: false,
    })
    expect(serializeError('oops').code).toBe('INTERNAL')
  })

  it('maps an unknown code to INTERNAL, keeping the message', () => {
    const back = deserializeError({
      code: 'FROM_THE_FUTURE',
      message: 'new thing',
      details: {},
      retryable: false,
    } as unknown as SerializedError)
    expect(back.code).toBe('INTERNAL')
    expect(back.status).toBe(500)
    expect(back.message).toBe('new thing')
  })

  it('falls back to the table flag when retryable is missing', () => {
    const back = deserializeError({ code: 'TASK_TIMEOUT', message: 'slow', details: {} } as unknown as SerializedError)
    expect(back.retryable).toBe(true)
  })
})

// Regression tests for edge cases found while writing this suite.
describe('edge cases of errors.ts', () => {
  it('toFlotillaError does not throw on a circular object without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>
    bare.self = bare
    expect(toFlotillaError(bare).code).toBe('INTERNAL')
  })

  it('nonRetryable does not throw on an object without a prototype', () => {
    expect(nonRetryable(Object.create(null)).code).toBe('TASK_NON_RETRYABLE')
  })

  it('serializeError does not throw on a branded error that has no toJSON (another package copy)', () => {
    const foreign = {
      [Symbol.for('flotilla.error')]: true,
      code: 'TASK_FAILED',
      message: 'm',
      details: {},
      retryable: true,
    }
    expect(serializeError(foreign)).toEqual({ code: 'TASK_FAILED', message: 'm', details: {}, retryable: true })
  })
})
