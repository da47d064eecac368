import { createHash } from 'node:crypto'
import { FlotillaError } from '../core/errors.js'
import { findJsonProblem } from '../core/json-value.js'
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

function invalid(field: string, path: string, why: string, fix: string): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', `${path} ${why}; ${fix}`, { details: { field, path } })
}

/**
 * Checks that `value` follows the JSON rule of `findJsonProblem` (the same as
 * for task outputs and bus payloads). Throws `VALIDATION_FAILED` naming
 * `field` and the path of the first offending value.
 */
function checkJson(value: unknown, field: string): void {
  const problem = findJsonProblem(value, field)
  if (problem === undefined) return
  const fix =
    problem.kind === 'bytes'
      ? 'bytes can only be the whole content of an artifact: store them as their own artifact, or as a base64 string.'
      : problem.fix
  throw invalid(field, problem.path, problem.reason, fix)
}

/**
 * The JSON text of plain JSON data, refusing anything that would not read
 * back as written (the rule of `findJsonProblem`: BigInt, non-finite numbers,
 * functions, symbols, `undefined` in a list, class instances such as `Date`
 * or `Map`, cycles, nesting deeper than 1000; keys whose value is `undefined`
 * are left out) with `VALIDATION_FAILED` naming `field` and the path. Keys
 * keep their order.
 *
 * @example
 * ```ts
 * encodeJsonText({ a: [1, 'x'] }, 'content') // '{"a":[1,"x"]}'
 * encodeJsonText({ f: () => 1 }, 'content') // throws VALIDATION_FAILED "content.f is a function; …"
 * ```
 */
export function encodeJsonText(value: unknown, field: string): string {
  checkJson(value, field)
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
    throw invalid(
      field,
      field,
      `is a ${value.constructor.name}`,
      'give bytes as a Uint8Array or Buffer (new Uint8Array(buffer)).',
    )
  } else {
    encoding = 'json'
    bytes = Buffer.from(encodeJsonText(value, field), 'utf8')
  }
  if (bytes.byteLength > maxBytes) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `${field} is ${bytes.byteLength} bytes, over the limit of ${maxBytes} bytes: store less (split it into several artifacts), or raise maxContentBytes.`,
      {
        details: { field, size: bytes.byteLength, limit: maxBytes },
      },
    )
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
