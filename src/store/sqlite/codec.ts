import { createHash } from 'node:crypto'
import { FlotillaError } from '../../core/errors.js'

/** A value bound to an SQLite statement parameter. */
export type SqlValue = string | number | null

export type { RunRow, TaskRow } from '../rows.js'

/**
 * The JSON text of a value, or `null` for `undefined` (read back as
 * `undefined`). `what` and `of` (e.g. `output`, a task id) name it in errors. A value JSON cannot hold (a BigInt, a cycle) is refused with
 * `VALIDATION_FAILED`, which rolls the batch back.
 */
export function toJson(value: unknown, what: string, of?: string): string | null {
  if (value === undefined) return null
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (e) {
    const name = of === undefined ? what : `${what} "${of}"`
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `The ${name} cannot be stored as JSON: ${e instanceof Error ? e.message : String(e)}. Use plain JSON data (objects, arrays, strings, numbers, booleans, null).`,
      {
        details: of === undefined ? { what } : { what, of },
        cause: e,
      },
    )
  }
  return text ?? null
}

/** The key and text of a workflow definition in the `definitions` table. */
export interface EncodedDefinition {
  /** SHA-256 (hex) of `body` (of the empty string when the definition is undefined). */
  hash: string
  body: string | null
}

/** Frozen definitions cannot change, so each is encoded and hashed once per process. */
const encoded = new WeakMap<object, EncodedDefinition>()

/**
 * A definition keyed by the hash of its own JSON text, so identical
 * definitions share one row and different ones never collide, whatever
 * `workflowHash` the run carries.
 */
export function encodeDefinition(definition: unknown): EncodedDefinition {
  const frozen = typeof definition === 'object' && definition !== null && Object.isFrozen(definition)
  if (frozen) {
    const hit = encoded.get(definition)
    if (hit) return hit
  }
  const body = toJson(definition, 'workflow definition')
  const result = {
    hash: createHash('sha256')
      .update(body ?? '')
      .digest('hex'),
    body,
  }
  if (frozen) encoded.set(definition, result)
  return result
}
