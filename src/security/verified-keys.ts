/**
 * Checking a presented secret against an API key, and what a process
 * remembers of the keys it verified so that the next request need not read
 * the store: the hashes of their secrets, their expiry and grace period and
 * their principal (never a secret), trusted for `cacheMs`. Every refusal is
 * `AUTH_INVALID`; hashes are compared in constant time, an unknown id too.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { principalOf, type KeyPrincipal } from './key-principals.js'
import type { ApiKeyRecord } from './security-store.js'

const ZERO_HASH = Buffer.alloc(32)

/** What a process remembers of a key it verified: hashes only, never the secret. */
export interface VerifiedKey {
  /** SHA-256 of the current secret. */
  readonly current: Buffer
  /** SHA-256 of the rotated-out secret and the end of its grace period. */
  readonly previous: { readonly hash: Buffer; readonly validUntil: number } | null
  readonly expiresAt: number | null
  readonly principal: KeyPrincipal
  /** `clock.now()` when the record was read from the store. */
  readonly readAt: number
}

/** The `AUTH_INVALID` a request gets; the message never says which check failed unless the caller proved the secret. */
export function invalid(reason?: string, details: Record<string, unknown> = {}): FlotillaError {
  const why = reason === undefined ? 'it is unknown or its secret is wrong' : reason
  return new FlotillaError('AUTH_INVALID', `The API key is not valid: ${why}. Ask an ADMIN for a new key.`, {
    details: { ...(reason === undefined ? {} : { reason }), ...details },
  })
}

/** The keys an `ApiKeys` verified, by id, and the checks of a presented secret's hash. */
export class VerifiedKeys {
  private readonly keys = new Map<string, VerifiedKey>()
  /** Bumped by every {@link forget}, so a read begun before a revoke or rotate is not remembered after it. */
  private changes = 0

  constructor(
    private readonly clock: Clock,
    /** How long a verified key is trusted without reading the store (ms); 0: never remembered. */
    private readonly cacheMs: number,
  ) {}

  /**
   * The principal of remembered key `id` when the secret `hash` matches and
   * it is still trusted; `AUTH_INVALID` past its expiry or grace period;
   * `undefined` otherwise (read the store).
   */
  cached(id: string, hash: Buffer): KeyPrincipal | undefined {
    const known = this.keys.get(id)
    if (known === undefined) return undefined
    if (this.clock.now() - known.readAt >= this.cacheMs) {
      this.keys.delete(id)
      return undefined
    }
    const current = timingSafeEqual(hash, known.current)
    const previous = !current && known.previous !== null && timingSafeEqual(hash, known.previous.hash)
    if (!current && !previous) return undefined
    const now = this.clock.wallNow()
    if (known.expiresAt !== null && now >= known.expiresAt) throw invalid('it expired', { keyId: id })
    if (previous && known.previous !== null && now >= known.previous.validUntil)
      throw invalid('it was rotated and its grace period is over', { keyId: id })
    return known.principal
  }

  /** What to pass to {@link remember} for a store read begun now. */
  version(): number {
    return this.changes
  }

  /**
   * Checks the secret `hash` against `record` (`undefined`: no such key),
   * read from the store at `readAt` (`clock.now()`), at wall-clock `now`.
   * `AUTH_INVALID` when it is unknown or the secret is wrong, revoked (it is
   * forgotten here too), expired, or a rotated-out secret past its grace.
   */
  verify(
    record: ApiKeyRecord | undefined,
    hash: Buffer,
    readAt: number,
    now: number,
  ): { record: ApiKeyRecord; verified: VerifiedKey } {
    const stored = record === undefined ? undefined : verifiedOf(record, readAt)
    // Compare even for an unknown id, so both take the same time.
    const current = timingSafeEqual(hash, stored?.current ?? ZERO_HASH)
    const previous =
      stored?.previous !== null && stored?.previous !== undefined && timingSafeEqual(hash, stored.previous.hash)
    if (record === undefined || stored === undefined || (!current && !previous)) throw invalid()
    if (record.revokedAt !== null) {
      this.keys.delete(record.id)
      throw invalid('it was revoked', { keyId: record.id })
    }
    if (record.expiresAt !== null && now >= record.expiresAt) throw invalid('it expired', { keyId: record.id })
    if (!current && previous && record.previous !== null && now >= record.previous.validUntil)
      throw invalid('it was rotated and its grace period is over', { keyId: record.id })
    return { record, verified: stored }
  }

  /** Remembers a verified key, unless caching is off or a key was forgotten since `version` (see {@link version}). */
  remember(verified: VerifiedKey, version: number): void {
    if (this.cacheMs > 0 && version === this.changes) this.keys.set(verified.principal.keyId, verified)
  }

  /** Drops what is remembered of key `id` (before and after a revoke or rotate is stored). */
  forget(id: string): void {
    this.changes++
    this.keys.delete(id)
  }
}

/** A stored hex hash as 32 bytes (a malformed one as zeros, which no secret hashes to). */
function hashBytes(hex: string): Buffer {
  const b = Buffer.from(hex, 'hex')
  return b.length === 32 ? b : ZERO_HASH
}

/** What a process remembers of `record`, read at `readAt` (`clock.now()`). */
function verifiedOf(record: ApiKeyRecord, readAt: number): VerifiedKey {
  return {
    current: hashBytes(record.hash),
    previous:
      record.previous === null
        ? null
        : { hash: hashBytes(record.previous.hash), validUntil: record.previous.validUntil },
    expiresAt: record.expiresAt,
    principal: principalOf(record),
    readAt,
  }
}
