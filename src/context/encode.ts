import { createHash } from 'node:crypto'
import { FlotillaError } from '../core/errors.js'
import type { ArtifactEncoding } from './types.js'

/** Content ready to store: its encoding, bytes and SHA-256. */
export interface EncodedContent {
  /** `json` or `bytes`. */
  readonly encoding: ArtifactEncoding
  /** The bytes to store (UTF-8 JSON text, or a copy of the given bytes). */
  readonly bytes: Uint8Array
  /** SHA-256 of `bytes`, hex. */
  readonly hash: string
}

const MAX_DEPTH = 1000
const JSON_KINDS = 'plain JSON data (objects, arrays, strings, finite numbers, booleans, null)'

function invalid(field: string, path: string, why: string, fix: string): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', `${path} ${why}; ${fix}`, { details: { field, path } })
}

/**
 * Checks that `value` is plain JSON data that reads back as written: no
 * functions, symbols, BigInts, non-finite numbers, cycles, class instances
 * (a `Date`, a `Map`…) or nesting deeper than 1000. Object keys whose value is
 * `undefined` are left out, as `JSON.stringify` does. Throws
 * `VALIDATION_FAILED` naming the path of the first offending value.
 */
function checkJson(value: unknown, field: string, path: string, parents: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value)) throw invalid(field, path, `is ${value}`, 'JSON numbers must be finite: store null or a string instead.')
      return
    case 'bigint':
      throw invalid(field, path, 'is a BigInt', 'JSON has no BigInt: store it as a string (String(n)) or, if it fits, a number.')
    case 'function':
      throw invalid(field, path, 'is a function', `store ${JSON_KINDS}; remove it or replace it by data.`)
    case 'symbol':
      throw invalid(field, path, 'is a symbol', `store ${JSON_KINDS}.`)
    case 'undefined':
      throw invalid(field, path, 'is undefined', 'JSON has no undefined: use null, or leave the key out.')
  }
  if (value === null) return
  const obj = value as object
  if (parents.has(obj)) throw invalid(field, path, 'refers back to one of its parents (a cycle)', 'JSON cannot hold cycles: store a copy without the back reference.')
  if (parents.size >= MAX_DEPTH) throw invalid(field, path, `is nested deeper than ${MAX_DEPTH} levels`, 'flatten the data.')
  parents.add(obj)
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) checkJson(obj[i], field, `${path}[${i}]`, parents)
  } else {
    const proto: unknown = Object.getPrototypeOf(obj)
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj.constructor as { name?: unknown } | undefined)?.name
      const kind = typeof name === 'string' && name !== '' ? name : 'non-plain'
      const fix = obj instanceof Uint8Array ? 'bytes can only be the whole content of an artifact: store them as their own artifact, or as a base64 string.' : `store ${JSON_KINDS}: convert it first (a Date with toISOString(), a Map with Object.fromEntries(map)).`
      throw invalid(field, path, `is a ${kind} object`, fix)
    }
    for (const key of Object.keys(obj)) {
      const child = (obj as Record<string, unknown>)[key]
      if (child !== undefined) checkJson(child, field, /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, parents)
    }
  }
  parents.delete(obj)
}

/**
 * The JSON text of plain JSON data, refusing anything that would not read
 * back as written (`VALIDATION_FAILED`, naming `field` and the path). Keys
 * keep their order.
 *
 * @example
 * ```ts
 * encodeJsonText({ a: [1, 'x'] }, 'content') // '{"a":[1,"x"]}'
 * encodeJsonText({ f: () => 1 }, 'content') // throws VALIDATION_FAILED "content.f is a function; …"
 * ```
 */
export function encodeJsonText(value: unknown, field: string): string {
  checkJson(value, field, field, new Set())
  return JSON.stringify(value)
}

/**
 * Encodes content to store: a `Uint8Array` (a `Buffer` too) as bytes, anything
 * else as JSON text; refuses more than `maxBytes` bytes with `VALIDATION_FAILED`.
 *
 * @example
 * ```ts
 * encodeContent(new Uint8Array([1, 2]), 1024).encoding // 'bytes'
 * ```
 */
export function encodeContent(value: unknown, maxBytes: number, field = 'content'): EncodedContent {
  let encoding: ArtifactEncoding
  let bytes: Uint8Array
  if (value instanceof Uint8Array) {
    encoding = 'bytes'
    bytes = new Uint8Array(value) // a copy: later changes by the caller change nothing stored
  } else if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    throw invalid(field, field, `is a ${value.constructor.name}`, 'give bytes as a Uint8Array or Buffer (new Uint8Array(buffer)).')
  } else {
    encoding = 'json'
    bytes = Buffer.from(encodeJsonText(value, field), 'utf8')
  }
  if (bytes.byteLength > maxBytes) {
    throw new FlotillaError('VALIDATION_FAILED', `${field} is ${bytes.byteLength} bytes, over the limit of ${maxBytes} bytes: store less (split it into several artifacts), or raise maxContentBytes.`, {
      details: { field, size: bytes.byteLength, limit: maxBytes },
    })
  }
  return { encoding, bytes, hash: sha256(bytes) }
}

/** SHA-256 of bytes, hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * The content of stored bytes: a fresh JSON value, or a fresh `Uint8Array`.
 *
 * @example
 * ```ts
 * decodeContent('json', Buffer.from('[1]')) // [1]
 * ```
 */
export function decodeContent(encoding: ArtifactEncoding, bytes: Uint8Array): unknown {
  if (encoding === 'bytes') return new Uint8Array(bytes)
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown
}

/**
 * Freezes a JSON value and everything in it, so that it can be shared
 * without copies.
 *
 * @example
 * ```ts
 * const meta = deepFreeze(JSON.parse(text))
 * ```
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
