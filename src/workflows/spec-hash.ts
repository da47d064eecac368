/**
 * A workflow definition made a value: deeply frozen once compiled, and named
 * by the SHA-256 of its canonical JSON (keys sorted, `undefined` left out),
 * which runs pin.
 *
 * @module
 */
import { createHash } from 'node:crypto'

/** JSON text of `value` with object keys sorted and `undefined` members left out. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const keys = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`
}

/** SHA-256 (hex) of the canonical JSON of a definition: equal definitions, equal hashes. */
export function specHash(spec: unknown): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex')
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      Object.freeze(v)
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k])
    }
  }
  return value
}
