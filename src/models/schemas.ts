/**
 * The AI SDK form of the schemas a language-model agent hands it, made once
 * per schema rather than once per call. Given a zod schema, the SDK wraps it
 * anew on every call and converts it to JSON Schema each time it sends the
 * tool list or the response format (a walk of the whole schema); the
 * wrapper it makes ({@link AiSdk.asSchema}) keeps its conversion, so keeping
 * the wrapper keeps the conversion too. Validation is the wrapper's own
 * (zod's `safeParseAsync`), exactly as when the SDK wraps the schema itself.
 */
import type * as AiSdk from 'ai'
import type { Schema } from 'ai'

const wrapped = new WeakMap<object, Schema<unknown>>()

/** `schema` (zod, or JSON Schema with `json`) as the SDK's schema wrapper, made on first use and kept while `schema` lives. */
export function sdkSchema(ai: typeof AiSdk, schema: object, json = false): Schema<unknown> {
  let s = wrapped.get(schema)
  if (s === undefined) {
    s = json
      ? ai.jsonSchema(schema as Parameters<typeof ai.jsonSchema>[0])
      : ai.asSchema(schema as Parameters<typeof ai.asSchema>[0])
    wrapped.set(schema, s)
  }
  return s
}
