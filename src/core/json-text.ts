/**
 * JSON text remembered with the value it is the text of, so a value that
 * was just written out (a model call's answer, kept in the task journal) or
 * just parsed is not written out again when the journal keeps it.
 */
const texts = new WeakMap<object, string>()

/**
 * Parses JSON text and remembers the text for the value (an object or an
 * array). Use it only for a value nobody changes afterwards: the text is
 * what {@link keptJsonText} gives back for it.
 *
 * @example
 * ```ts
 * const v = parseKeepingText('{"a":1}')
 * keptJsonText(v) // '{"a":1}'
 * ```
 */
export function parseKeepingText(text: string): unknown {
  const value = JSON.parse(text) as unknown
  if (typeof value === 'object' && value !== null) texts.set(value, text)
  return value
}

/**
 * Remembers `text` as the JSON text of `value` (made from it with
 * `JSON.stringify`), for {@link keptJsonText}: a value kept as it was
 * written need not be parsed back. The same rule holds: nobody changes it.
 */
export function keepJsonText(value: object, text: string): void {
  texts.set(value, text)
}

/** The JSON text `value` was parsed from by {@link parseKeepingText}, or `undefined`. */
export function keptJsonText(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? texts.get(value) : undefined
}
