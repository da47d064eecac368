import { z } from 'zod'
import { FlotillaError } from '../core/errors.js'
import { findJsonProblem, JSON_MAX_DEPTH } from '../core/json-value.js'
import type { BusEvent, EventFilter, MessageHeaders } from './bus.js'

/** Default largest payload, in bytes of its JSON form: 256 KiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024

function invalid(message: string, details: Record<string, unknown>): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', message, { details })
}

/**
 * Checks that `value` is plain JSON (the rule of `findJsonProblem`, the same
 * as for task outputs and artifacts) within `maxBytes`, and returns its JSON
 * text (adapters store or copy from it).
 *
 * @throws FlotillaError `VALIDATION_FAILED` naming the offending path (in `details.path`) or the size.
 */
export function serializePayload(value: unknown, maxBytes: number, what = 'payload'): string {
  const problem = findJsonProblem(value, what)
  if (problem) {
    throw invalid(`The ${what} must be JSON-serialisable: ${problem.path} ${problem.reason}; ${problem.fix}`, {
      field: what,
      reason: 'not_serialisable',
      path: problem.path,
      kind: problem.kind,
    })
  }
  const text = JSON.stringify(value)
  // Cheap bound first: UTF-8 uses at most 3 bytes per UTF-16 unit.
  const bytes = text.length * 3 <= maxBytes ? text.length : Buffer.byteLength(text, 'utf8')
  if (bytes > maxBytes) {
    throw invalid(`The ${what} is ${bytes} bytes of JSON, over the limit of ${maxBytes}.`, {
      field: what,
      reason: 'too_large',
      bytes,
      maxBytes,
    })
  }
  return text
}

/** Upper bound of the UTF-8 bytes of a number's JSON text ("-1.2345678901234567e-308" is 24). */
const NUMBER_BYTES = 25

/**
 * Copies `value` if it is plain JSON, adding to `budget.bytes` an upper bound
 * of its JSON size; returns `INVALID` at the first non-JSON part (the rule of
 * `findJsonProblem`, which names it). The copy is what
 * `JSON.parse(JSON.stringify(value))` gives, without the text.
 */
function cloneJson(value: unknown, budget: { bytes: number }, seen: Set<object>, depth: number): unknown {
  if (value === null) {
    budget.bytes += 4
    return null
  }
  switch (typeof value) {
    case 'string':
      // Each UTF-16 unit is at most 6 bytes escaped (\u001f), or 3 as UTF-8.
      budget.bytes += value.length * 6 + 2
      return value
    case 'number':
      if (!Number.isFinite(value)) return INVALID
      budget.bytes += NUMBER_BYTES
      return value === 0 ? 0 : value // JSON has no -0
    case 'boolean':
      budget.bytes += 5
      return value
    case 'object':
      break
    default:
      return INVALID
  }
  const obj = value as object
  if (seen.has(obj) || depth >= JSON_MAX_DEPTH) return INVALID
  seen.add(obj)
  let out: unknown
  if (Array.isArray(obj)) {
    const copy = new Array<unknown>(obj.length)
    budget.bytes += 2 + obj.length
    for (let i = 0; i < obj.length; i++) {
      const item: unknown = obj[i]
      if (item === undefined) return INVALID // undefined or a hole: JSON would read back null
      const v = cloneJson(item, budget, seen, depth + 1)
      if (v === INVALID) return INVALID
      copy[i] = v
    }
    out = copy
  } else {
    const proto: unknown = Object.getPrototypeOf(obj)
    if (proto !== Object.prototype && proto !== null) return INVALID
    const copy: Record<string, unknown> = {}
    const keys = Object.keys(obj)
    budget.bytes += 2 + keys.length * 4
    for (const k of keys) {
      const item = (obj as Record<string, unknown>)[k]
      if (item === undefined) continue // left out, as JSON.stringify does
      const v = cloneJson(item, budget, seen, depth + 1)
      if (v === INVALID) return INVALID
      budget.bytes += k.length * 6
      if (k === '__proto__')
        Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true })
      else copy[k] = v
    }
    out = copy
  }
  seen.delete(obj)
  return out
}

const INVALID: unique symbol = Symbol('invalid-json')

/**
 * Checks `value` like {@link serializePayload} and returns a deep copy equal
 * to `JSON.parse(JSON.stringify(value))`, without making the JSON text when a
 * cheap size bound already fits `maxBytes` (the hot path of in-process
 * events). Errors are exactly those of {@link serializePayload}.
 *
 * @throws FlotillaError `VALIDATION_FAILED` naming the offending path or the size.
 */
export function clonePayload(value: unknown, maxBytes: number, what = 'payload'): unknown {
  const budget = { bytes: 0 }
  const copy = cloneJson(value, budget, new Set(), 0)
  if (copy === INVALID || budget.bytes > maxBytes) serializePayload(value, maxBytes, what) // throws the precise error, or passes when the bound was loose
  if (copy === INVALID)
    throw invalid(`The ${what} must be JSON-serialisable.`, { field: what, reason: 'not_serialisable' })
  return copy
}

/** Checks an agent name (non-empty string). @throws FlotillaError `VALIDATION_FAILED`. */
export function checkAgentName(name: unknown, field: string): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw invalid(`${field} must be a non-empty agent name.`, { field })
  }
  return name
}

/** Checks optional headers (string values only). @throws FlotillaError `VALIDATION_FAILED`. */
export function checkHeaders(headers: unknown): MessageHeaders {
  if (headers === undefined) return {}
  const parsed = z.record(z.string(), z.string()).safeParse(headers)
  if (!parsed.success) throw invalid('headers must be an object of string values.', { field: 'headers' })
  return { ...parsed.data }
}

const primitive = z.union([z.string(), z.number(), z.boolean(), z.null()])
const agentName = z.string().trim().min(1)
const filterSchema = z.strictObject({
  from: z.union([agentName, z.array(agentName).min(1)]).optional(),
  where: z.record(z.string().regex(/^[^.]+(\.[^.]+)*$/, 'a dotted path like "a.b"'), primitive).optional(),
})

/** A checked filter, ready for {@link matchesFilter}. */
export interface CompiledFilter {
  /** Publishing agents accepted, or `undefined` for any. */
  readonly from: ReadonlySet<string> | undefined
  /** Split paths and expected values. */
  readonly where: ReadonlyArray<readonly [readonly string[], string | number | boolean | null]>
}

/**
 * Validates a subscription filter and prepares it for matching.
 *
 * @throws FlotillaError `VALIDATION_FAILED` naming the bad field.
 */
export function compileFilter(filter: EventFilter | undefined): CompiledFilter {
  if (filter === undefined) return { from: undefined, where: [] }
  const parsed = filterSchema.safeParse(filter)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = ['filter', ...(issue?.path ?? []).map(String)].join('.')
    throw invalid(`Invalid subscription filter at ${field}: ${issue?.message ?? 'malformed'}.`, { field })
  }
  const { from, where } = parsed.data
  return {
    from: from === undefined ? undefined : new Set(typeof from === 'string' ? [from] : from),
    where: Object.entries(where ?? {}).map(([path, v]) => [path.split('.'), v] as const),
  }
}

/** Whether `event` passes `filter` (publisher in `from`, and every `where` path equal). */
export function matchesFilter(filter: CompiledFilter, event: BusEvent): boolean {
  if (filter.from && !filter.from.has(event.from)) return false
  for (const [path, expected] of filter.where) {
    let cur: unknown = event.data
    for (const key of path) {
      if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return false
      cur = (cur as Record<string, unknown>)[key]
    }
    if (cur !== expected) return false
  }
  return true
}

/** Checks a positive finite millisecond option. @throws FlotillaError `VALIDATION_FAILED`. */
export function checkPositive(value: unknown, field: string, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw invalid(`${field} must be a positive ${integer ? 'integer' : 'number'}.`, { field })
  }
  return value
}

/** The sender recorded when a message or request does not name one. */
export const EXTERNAL_SENDER = 'external'

/** The sender of a message or request: the agent named in `from`, or {@link EXTERNAL_SENDER}. */
export function checkSender(from: string | undefined): string {
  return from === undefined ? EXTERNAL_SENDER : checkAgentName(from, 'from')
}

/** Fails with `VALIDATION_FAILED` unless `targets` is an array (its names are checked one by one by the adapter). */
export function checkTargets(targets: unknown): void {
  if (!Array.isArray(targets))
    throw new FlotillaError('VALIDATION_FAILED', 'targets must be an array of agent names.', {
      details: { field: 'targets' },
    })
}

/** Fails with `VALIDATION_FAILED` unless `handler` is a function. */
export function checkHandler(handler: unknown): void {
  if (typeof handler !== 'function')
    throw new FlotillaError('VALIDATION_FAILED', 'handler must be a function.', { details: { field: 'handler' } })
}
