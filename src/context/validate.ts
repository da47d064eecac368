import { FlotillaError } from '../core/errors.js'
import { deepFreeze, encodeJsonText } from './encode.js'
import type { PutArtifactOptions } from './types.js'

/** Letters, digits and `._-/:`, 1 to 200 characters: the form of artifact ids and cache keys. */
const NAME = /^[A-Za-z0-9._\-/:]{1,200}$/
const TAG = /^[A-Za-z0-9._\-/:]{1,100}$/
const MAX_TAGS = 32
const MAX_METADATA_BYTES = 64 * 1024
const MAX_LINEAGE = 200

function bad(field: string, message: string, details: Record<string, unknown> = {}): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', message, { details: { field, ...details } })
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/**
 * Checks an artifact id: 1–200 letters, digits or `._-/:`.
 *
 * @example
 * ```ts
 * checkArtifactId('runs/42/report.json') // ok
 * checkArtifactId('a b') // throws VALIDATION_FAILED
 * ```
 */
export function checkArtifactId(id: unknown, field = 'id'): string {
  if (typeof id !== 'string' || !NAME.test(id)) {
    throw bad(
      field,
      `Artifact ${field} ${shown(id)} is not valid: use 1 to 200 letters, digits or the characters . _ - / : (like "runs/42/report.json").`,
      { value: typeof id === 'string' ? id.slice(0, 200) : typeof id },
    )
  }
  return id
}

/** Checks a cache key: the same form as an artifact id. */
export function checkCacheKey(key: unknown): string {
  if (typeof key !== 'string' || !NAME.test(key)) {
    throw bad(
      'key',
      `Cache key ${shown(key)} is not valid: use 1 to 200 letters, digits or the characters . _ - / : (like "search:cats").`,
      { value: typeof key === 'string' ? key.slice(0, 200) : typeof key },
    )
  }
  return key
}

/** Checks a principal: a non-empty name of at most 200 characters. */
export function checkPrincipal(principal: unknown): string {
  if (typeof principal !== 'string' || principal.length === 0 || principal.length > MAX_LINEAGE) {
    throw bad(
      'principal',
      `The principal ${shown(principal)} is not valid: name the agent (or "orchestrator") doing the operation, 1 to ${MAX_LINEAGE} characters.`,
    )
  }
  return principal
}

/** Checks a TTL: a finite number of ms greater than 0. */
export function checkTtl(ttlMs: unknown, field = 'ttlMs'): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw bad(field, `${field} must be a finite number of milliseconds greater than 0; got ${shown(ttlMs)}.`, {
      value: typeof ttlMs === 'number' ? String(ttlMs) : typeof ttlMs,
    })
  }
  return ttlMs
}

/** Checks a version number: a whole number ≥ 1. */
export function checkVersion(version: unknown, field: string): number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw bad(field, `${field} must be a version number (a whole number ≥ 1); got ${shown(version)}.`)
  }
  return version
}

/**
 * Checks the tags of a write: a list of at most 32 tags of 1–100 letters,
 * digits or `._-/:`; returns them frozen, without duplicates, in order.
 */
export function checkTags(tags: unknown): readonly string[] {
  if (!Array.isArray(tags)) throw bad('tags', `tags must be a list of strings; got ${shown(tags)}.`)
  if (tags.length > MAX_TAGS) throw bad('tags', `tags has ${tags.length} entries; at most ${MAX_TAGS} are allowed.`)
  tags.forEach((tag: unknown, i) => {
    if (typeof tag !== 'string' || !TAG.test(tag))
      throw bad(
        `tags[${i}]`,
        `tags[${i}] ${shown(tag)} is not valid: use 1 to 100 letters, digits or the characters . _ - / : (like "draft" or "lang:en").`,
      )
  })
  return Object.freeze([...new Set(tags as string[])])
}

/** Checks the metadata of a write: a plain JSON object of at most 64 KiB as JSON; returns a deeply frozen copy. */
export function checkMetadata(metadata: unknown): Readonly<Record<string, unknown>> {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw bad('metadata', `metadata must be a JSON object (like { "source": "crawler" }); got ${shown(metadata)}.`)
  }
  const text = encodeJsonText(metadata, 'metadata')
  if (Buffer.byteLength(text) > MAX_METADATA_BYTES) {
    throw bad(
      'metadata',
      `metadata is ${Buffer.byteLength(text)} bytes as JSON, over the limit of ${MAX_METADATA_BYTES}: keep bulky data in the content.`,
    )
  }
  return deepFreeze(JSON.parse(text) as Record<string, unknown>)
}

function checkLineage(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LINEAGE) {
    throw bad(
      field,
      `${field} must be a non-empty string of at most ${MAX_LINEAGE} characters, or null; got ${shown(value)}.`,
    )
  }
  return value
}

/** A write's options after checking, with defaults. */
export interface CheckedPutOptions {
  /** `undefined`: unconditional; `null`: must not exist; a number: must be the latest. */
  readonly basedOn: number | null | undefined
  readonly metadata: Readonly<Record<string, unknown>>
  readonly tags: readonly string[]
  readonly ttlMs: number | undefined
  readonly runId: string | null
  readonly taskId: string | null
}

const EMPTY_METADATA: Readonly<Record<string, unknown>> = Object.freeze({})
const NO_TAGS: readonly string[] = Object.freeze([])
const PUT_KEYS = new Set(['basedOn', 'metadata', 'tags', 'ttlMs', 'runId', 'taskId'])

/**
 * Checks the options of a write; an unknown option, or a bad value, is
 * `VALIDATION_FAILED` naming it.
 */
export function checkPutOptions(options: PutArtifactOptions | undefined): CheckedPutOptions {
  if (options === undefined)
    return { basedOn: undefined, metadata: EMPTY_METADATA, tags: NO_TAGS, ttlMs: undefined, runId: null, taskId: null }
  if (typeof options !== 'object' || options === null)
    throw bad('options', `The options of put must be an object; got ${shown(options)}.`)
  for (const key of Object.keys(options)) {
    if (!PUT_KEYS.has(key)) throw bad(key, `Unknown option "${key}" of put: use ${[...PUT_KEYS].join(', ')}.`)
  }
  const { basedOn, metadata, tags, ttlMs, runId, taskId } = options
  return {
    basedOn: basedOn === undefined || basedOn === null ? basedOn : checkVersion(basedOn, 'basedOn'),
    metadata: metadata === undefined ? EMPTY_METADATA : checkMetadata(metadata),
    tags: tags === undefined ? NO_TAGS : checkTags(tags),
    ttlMs: ttlMs === undefined ? undefined : checkTtl(ttlMs),
    runId: checkLineage(runId, 'runId'),
    taskId: checkLineage(taskId, 'taskId'),
  }
}

/** Checks the filter of a list: an optional tag and an optional id prefix. */
export function checkListFilter(options: { tag?: unknown; prefix?: unknown } | undefined): {
  tag?: string
  prefix?: string
} {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null)
    throw bad('options', `The options of list must be an object; got ${shown(options)}.`)
  const out: { tag?: string; prefix?: string } = {}
  if (options.tag !== undefined) {
    if (typeof options.tag !== 'string' || !TAG.test(options.tag))
      throw bad(
        'tag',
        `tag ${shown(options.tag)} is not valid: use 1 to 100 letters, digits or the characters . _ - / :.`,
      )
    out.tag = options.tag
  }
  if (options.prefix !== undefined && options.prefix !== '') out.prefix = checkArtifactId(options.prefix, 'prefix')
  return out
}
