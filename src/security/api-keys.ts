/**
 * API keys as a service: creating, importing, listing, rotating and
 * revoking them in a {@link SecurityStore}, and authenticating a request's
 * key. Their parts live next to it: the key's form and hashing
 * (`key-tokens.ts`), what a key shows and grants (`key-principals.ts`) and
 * the checks and cache of verified keys (`verified-keys.ts`).
 */
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { inheritPermissions, parsePermissions, type Permission } from './permissions.js'
import { toInfo, type ApiKeyInfo, type KeyPrincipal } from './key-principals.js'
import { formatApiKey, hashSecret, newKeyId, newSecret, parseApiKey, sameHash } from './key-tokens.js'
import { parseRole, ROLE_GRANTS, type Role } from './roles.js'
import { sha256Hex } from './sha256.js'
import { keyNotFound, type ApiKeyRecord, type SecurityStore } from './security-store.js'
import { invalid, VerifiedKeys } from './verified-keys.js'

export type { ApiKeyInfo, KeyPrincipal } from './key-principals.js'
export { principalOf } from './key-principals.js'
export { hashSecret, parseApiKey } from './key-tokens.js'

/** A new key: the only time its secret is shown. */
export interface IssuedKey {
  /** `flt_<id>_<secret>`: give it to the client; it cannot be shown again. */
  readonly key: string
  readonly info: ApiKeyInfo
}

/** Options of {@link ApiKeys}; every field has a default. */
export interface ApiKeysOptions {
  /** @default systemClock */
  readonly clock?: Clock
  /**
   * How long a verified key is trusted without reading the store again (ms).
   * A revoke or rotate through the same `ApiKeys` takes effect at once; one
   * made by another process on the same store (`flotilla keys revoke`,
   * another server) within this time. 0: read the store on every request.
   * @default 1000
   */
  readonly cacheMs?: number
}

/** What {@link ApiKeys.create} takes. */
export interface CreateKeyOptions {
  /** A label (`ci`, `dashboard`); 1–64 characters. */
  readonly name: string
  readonly role: Role | Lowercase<Role>
  /** Grants within the role's (`{ resource: 'workflow:nightly-report', actions: ['start'] }`); more is `PERMISSION_ESCALATION`. */
  readonly scopes?: readonly Permission[]
  /** The key stops working this many ms after creation. @default never */
  readonly ttlMs?: number
  /** Who creates it (recorded). @default "system" */
  readonly by?: string
}

const LAST_USED_EVERY_MS = 60_000

/**
 * API keys: created with a role (and optional narrower scopes), shown once,
 * stored as a hash, checked in constant time, rotated with a grace period,
 * revoked, expired. Keys live in a {@link SecurityStore}.
 *
 * @example
 * ```ts
 * const keys = new ApiKeys(new MemorySecurityStore())
 * const { key } = await keys.create({ name: 'ci', role: 'SERVICE' })
 * const who = await keys.authenticate(key) // { name: 'key:…', role: 'SERVICE', … }
 * who.permissions.allows('workflow:nightly', 'start') // true
 * ```
 */
export class ApiKeys {
  private readonly clock: Clock
  /** What this process remembers of the keys it verified. */
  private readonly verified: VerifiedKeys

  constructor(
    private readonly store: SecurityStore,
    options: ApiKeysOptions = {},
  ) {
    this.clock = options.clock ?? systemClock
    const cacheMs = options.cacheMs ?? 1000
    if (!(Number.isFinite(cacheMs) && cacheMs >= 0))
      throw new FlotillaError('VALIDATION_FAILED', `cacheMs must be a number of ms ≥ 0; got ${String(cacheMs)}.`, {
        details: { field: 'cacheMs' },
      })
    this.verified = new VerifiedKeys(this.clock, cacheMs)
  }

  /** Creates a key; its secret is in the result and nowhere else. */
  async create(options: CreateKeyOptions): Promise<IssuedKey> {
    const name = typeof options.name === 'string' ? options.name.trim() : ''
    if (name.length === 0 || name.length > 64)
      throw new FlotillaError('VALIDATION_FAILED', 'A key needs a name of 1 to 64 characters (e.g. "ci").', {
        details: { field: 'name' },
      })
    const role = parseRole(options.role)
    if (options.scopes !== undefined && options.scopes.length === 0)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'scopes, when given, must hold at least one grant (leave them out for the role’s own grants).',
        { details: { field: 'scopes' } },
      )
    const scopes =
      options.scopes === undefined
        ? null
        : inheritPermissions(ROLE_GRANTS[role], parsePermissions(options.scopes, 'scopes'), `a ${role} key`)
    if (options.ttlMs !== undefined && !(Number.isFinite(options.ttlMs) && options.ttlMs > 0))
      throw new FlotillaError('VALIDATION_FAILED', `ttlMs must be a positive number of ms; got ${options.ttlMs}.`, {
        details: { field: 'ttlMs' },
      })
    const now = this.clock.wallNow()
    const secret = newSecret()
    const record: ApiKeyRecord = {
      id: newKeyId(),
      name,
      role,
      scopes,
      hash: hashSecret(secret),
      previous: null,
      createdBy: options.by ?? 'system',
      createdAt: now,
      expiresAt: options.ttlMs === undefined ? null : now + options.ttlMs,
      revokedAt: null,
      rotatedAt: null,
      lastUsedAt: null,
    }
    await this.store.insertKey(record)
    return { key: formatApiKey(record.id, secret), info: toInfo(record) }
  }

  /**
   * Stores a key made elsewhere (`FLOTILLA_ADMIN_KEY`: a `flt_<id>_<secret>`
   * an operator generated and keeps in a secret manager) so it authenticates
   * like one created here. Importing the same key again is a no-op; another
   * key under a taken id is `VALIDATION_FAILED`.
   */
  async importKey(key: string, options: Omit<CreateKeyOptions, 'ttlMs'>): Promise<ApiKeyInfo> {
    const parsed = parseApiKey(key)
    if (parsed === undefined)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'An imported key must be of the form flt_<12 letters or digits>_<43 base64url characters>.',
        {
          details: { field: 'key' },
        },
      )
    const existing = await this.store.getKey(parsed.id)
    if (existing !== undefined) {
      if (sameHash(existing.hash, hashSecret(parsed.secret))) return toInfo(existing)
      throw new FlotillaError('VALIDATION_FAILED', `Another API key with id "${parsed.id}" exists already.`, {
        details: { keyId: parsed.id },
      })
    }
    const role = parseRole(options.role)
    const record: ApiKeyRecord = {
      id: parsed.id,
      name: options.name,
      role,
      scopes:
        options.scopes === undefined ? null : inheritPermissions(ROLE_GRANTS[role], options.scopes, `a ${role} key`),
      hash: hashSecret(parsed.secret),
      previous: null,
      createdBy: options.by ?? 'system',
      createdAt: this.clock.wallNow(),
      expiresAt: null,
      revokedAt: null,
      rotatedAt: null,
      lastUsedAt: null,
    }
    await this.store.insertKey(record)
    return toInfo(record)
  }

  /** Every key, oldest first, without secrets. */
  async list(): Promise<ApiKeyInfo[]> {
    return (await this.store.listKeys()).map(toInfo)
  }

  /** One key, or `KEY_NOT_FOUND`. */
  async get(id: string): Promise<ApiKeyInfo> {
    return toInfo(await this.record(id))
  }

  /**
   * The principal of a presented key, or `AUTH_INVALID` (malformed, unknown,
   * wrong secret, revoked, expired, or a rotated-out secret past its grace).
   *
   * A key verified against the store is remembered (the hashes of its
   * secrets, its expiry and its principal, never the secret) for
   * `cacheMs`: within that time the presented secret's hash is compared in
   * constant time with the remembered one and the store is not read.
   * Expiry and the grace period are checked on every call; a revoke or
   * rotate through this instance takes effect at once, one made elsewhere
   * (another process on the same store) within `cacheMs`; a secret the
   * remembered hashes do not match is always looked up in the store.
   */
  async authenticate(key: string): Promise<KeyPrincipal> {
    const parsed = parseApiKey(key)
    if (parsed === undefined) throw invalid('it is not of the form flt_<id>_<secret>')
    const hash = Buffer.from(sha256Hex(parsed.secret), 'hex')
    const cached = this.verified.cached(parsed.id, hash)
    if (cached !== undefined) return cached
    const version = this.verified.version()
    const found = await this.store.getKey(parsed.id)
    const readAt = this.clock.now()
    const now = this.clock.wallNow()
    const { record, verified } = this.verified.verify(found, hash, readAt, now)
    if (record.lastUsedAt === null || now - record.lastUsedAt >= LAST_USED_EVERY_MS) {
      await this.store.touchKey(record.id, now)
    }
    this.verified.remember(verified, version)
    return verified.principal
  }

  /**
   * A new secret for key `id` (same id, role and scopes). The old secret
   * keeps working for `graceMs` (default 0: it stops at once).
   */
  async rotate(id: string, options: { graceMs?: number; by?: string } = {}): Promise<IssuedKey> {
    const graceMs = options.graceMs ?? 0
    if (!(Number.isFinite(graceMs) && graceMs >= 0))
      throw new FlotillaError('VALIDATION_FAILED', `graceMs must be ≥ 0 ms; got ${graceMs}.`, {
        details: { field: 'graceMs' },
      })
    const record = await this.record(id)
    if (record.revokedAt !== null)
      throw new FlotillaError('VALIDATION_FAILED', `API key "${id}" was revoked; create a new one instead.`, {
        details: { keyId: id },
      })
    const now = this.clock.wallNow()
    const secret = newSecret()
    const next: ApiKeyRecord = {
      ...record,
      hash: hashSecret(secret),
      previous: graceMs > 0 ? { hash: record.hash, validUntil: now + graceMs } : null,
      rotatedAt: now,
    }
    this.verified.forget(id)
    await this.store.updateKey(next)
    this.verified.forget(id)
    return { key: formatApiKey(id, secret), info: toInfo(next) }
  }

  /** Revokes key `id` at once (its rotated-out secret too); revoking twice keeps the first time. */
  async revoke(id: string): Promise<ApiKeyInfo> {
    const record = await this.record(id)
    if (record.revokedAt !== null) return toInfo(record)
    const next: ApiKeyRecord = { ...record, revokedAt: this.clock.wallNow(), previous: null }
    this.verified.forget(id)
    await this.store.updateKey(next)
    this.verified.forget(id)
    return toInfo(next)
  }

  private async record(id: string): Promise<ApiKeyRecord> {
    const record = await this.store.getKey(id)
    if (record === undefined) throw keyNotFound(id)
    return record
  }
}
