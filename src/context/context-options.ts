import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { defaultAuthorizer, type Authorizer } from '../security/authorizer.js'
import type { PermissionsOf } from './types.js'

/*
 * The options of a `ContextStore`: what they mean, their defaults, and their
 * check (a bad option is `VALIDATION_FAILED` naming it, before any backend is
 * opened).
 */

/** Options of a {@link ContextStore}. */
export interface ContextStoreOptions {
  /**
   * How many versions of each artifact are kept; older ones are dropped on
   * the next write (their content is released).
   * @default 10
   */
  keepVersions?: number
  /**
   * The largest content (JSON text or bytes) and cache value, in bytes.
   * @default 10485760 (10 MiB)
   */
  maxContentBytes?: number
  /**
   * The clock of lineage times and TTLs (its `wallNow`); inject a `FakeClock` in tests.
   * @default systemClock
   */
  clock?: Clock
  /**
   * The permissions of a principal; `undefined` (from the resolver, or no
   * resolver) means unrestricted.
   * @default undefined (every principal is unrestricted)
   */
  permissionsOf?: PermissionsOf
  /** Where every decision is made and heard (an orchestrator passes its own). @default the shared default authorizer */
  authorizer?: Authorizer
}

/** {@link ContextStoreOptions} after defaults. */
export interface ResolvedContextStoreOptions {
  /** Versions kept per artifact. */
  keepVersions: number
  /** Largest content or cache value, in bytes. */
  maxContentBytes: number
  /** The clock of times and TTLs. */
  clock: Clock
  /** The permission resolver (`undefined`: everyone unrestricted). */
  permissionsOf: PermissionsOf | undefined
  /** Makes the decisions. */
  authorizer: Authorizer
}

const DEFAULT_KEEP = 10
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024

/**
 * Resolves {@link ContextStoreOptions} with their defaults; a bad one is
 * `VALIDATION_FAILED` naming it. Internal (used to check options before
 * opening a backend).
 */
export function checkContextStoreOptions(options: ContextStoreOptions): ResolvedContextStoreOptions {
  const {
    keepVersions = DEFAULT_KEEP,
    maxContentBytes = DEFAULT_MAX_BYTES,
    clock = systemClock,
    permissionsOf,
    authorizer = defaultAuthorizer,
  } = options
  const bad = (field: string, want: string, got: unknown): FlotillaError =>
    new FlotillaError('VALIDATION_FAILED', `ContextStore option "${field}" must be ${want}; got ${String(got)}.`, {
      details: { field },
    })
  if (!Number.isSafeInteger(keepVersions) || keepVersions < 1 || keepVersions > 100_000)
    throw bad('keepVersions', 'a whole number from 1 to 100000', keepVersions)
  if (!Number.isSafeInteger(maxContentBytes) || maxContentBytes < 1)
    throw bad('maxContentBytes', 'a whole number of bytes ≥ 1', maxContentBytes)
  if (typeof clock?.wallNow !== 'function') throw bad('clock', 'a Clock (with wallNow())', clock)
  if (permissionsOf !== undefined && typeof permissionsOf !== 'function')
    throw bad('permissionsOf', 'a function (principal) => PermissionSet | undefined', permissionsOf)
  if (typeof authorizer?.authorize !== 'function') throw bad('authorizer', 'an Authorizer', authorizer)
  return { keepVersions, maxContentBytes, clock, permissionsOf, authorizer }
}
