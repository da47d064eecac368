import { FlotillaError, type SerializedError } from '../core/errors.js'

/** A type guard that says whether a decoded JSON value has the type its column holds. */
export type JsonShape<T> = (value: unknown) => value is T

/**
 * A JSON column holding values of type `T`, as the SQL adapters write and
 * read it: values are encoded to text, and text read back is parsed and
 * checked against the column's shape, so adapters get typed values without
 * casting. SQL NULL stands for an absent value.
 *
 * @example
 * ```ts
 * const TAGS = jsonColumn('artifacts.tags', isStringArray, 'an array of strings')
 * TAGS.decode('["a","b"]') // ['a', 'b'], typed string[]
 * TAGS.decode('{"a":1}') // throws STORE_CORRUPT naming artifacts.tags
 * ```
 */
export interface JsonColumn<T> {
  /** `table.column`, named in errors. */
  readonly name: string
  /** What the column holds, in words (`a JSON object`). */
  readonly expected: string
  /** True when `value` has the column's shape (to check a value before writing it). */
  accepts(value: unknown): value is T
  /** The JSON text of a value; `null` (SQL NULL) for `undefined`. */
  encode(value: T | undefined): string | null
  /**
   * The value of `text`; `undefined` for SQL NULL. Throws `STORE_CORRUPT`
   * (naming the column, and `key` when given) for text that is not JSON or
   * not of the column's shape: a row changed outside Flotilla.
   */
  decode(text: string | null | undefined, key?: string): T | undefined
  /** Like {@link JsonColumn.decode}, for a NOT NULL column: SQL NULL is `STORE_CORRUPT` too. */
  decodeRequired(text: string | null | undefined, key?: string): T
}

/**
 * A {@link JsonColumn} of `name` whose values pass `shape`; `expected` says
 * in words what the column holds, for the error message.
 */
export function jsonColumn<T>(name: string, shape: JsonShape<T>, expected: string): JsonColumn<T> {
  const corrupt = (key: string | undefined, why: string): FlotillaError =>
    new FlotillaError(
      'STORE_CORRUPT',
      `The store's ${name}${key === undefined ? '' : ` of ${key}`} ${why}; it should hold ${expected}. The row was changed outside Flotilla: restore it from a backup, or delete the row.`,
      { details: { column: name, ...(key === undefined ? {} : { key }) } },
    )
  const decode = (text: string | null | undefined, key?: string): T | undefined => {
    if (text === null || text === undefined) return undefined
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw corrupt(key, 'is not JSON')
    }
    if (!shape(value)) throw corrupt(key, 'has the wrong shape')
    return value
  }
  return {
    name,
    expected,
    accepts: shape,
    encode: (value) => (value === undefined ? null : JSON.stringify(value)),
    decode,
    decodeRequired(text, key) {
      const value = decode(text, key)
      if (value === undefined) throw corrupt(key, 'is missing')
      return value
    },
  }
}

/** Any JSON value: user data (inputs, outputs, bodies) that Flotilla stores as given. */
export const isJson: JsonShape<unknown> = (_value): _value is unknown => true

/** A JSON object (not an array, not `null`). */
export const isJsonObject: JsonShape<Record<string, unknown>> = (value): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** An array of JSON values. */
export const isJsonArray: JsonShape<unknown[]> = (value): value is unknown[] => Array.isArray(value)

/** An array of strings. */
export const isStringArray: JsonShape<string[]> = (value): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string')

/** `shape`, or JSON `null`. */
export function orNull<T>(shape: JsonShape<T>): JsonShape<T | null> {
  return (value): value is T | null => value === null || shape(value)
}

/** An array whose every element passes `shape`. */
export function arrayOf<T>(shape: JsonShape<T>): JsonShape<T[]> {
  return (value): value is T[] => Array.isArray(value) && value.every(shape)
}

/** An object with a string `code` and `message`: an error as `serializeError` wrote it. */
export const isSerializedError: JsonShape<SerializedError> = (value): value is SerializedError =>
  isJsonObject(value) && typeof value.code === 'string' && typeof value.message === 'string'
