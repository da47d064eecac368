import { randomBytes, timingSafeEqual } from 'node:crypto'
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { inheritPermissions, parsePermissions, PermissionSet, type Grants, type Permission } from './permissions.js'
import { parseRole, ROLE_GRANTS, type Role } from './roles.js'
import { sha256Hex } from './sha256.js'
import { keyNotFound, type ApiKeyRecord, type SecurityStore } from './security-store.js'

/** An API key as lists show it: everything but the hash of its secret. */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash' | 'previous'> & {
  /** Until when the secret replaced by the last rotation still works; `null`: it does not. */
  readonly previousValidUntil: number | null
}

/** A new key: the only time its secret is shown. */
export interface IssuedKey {
  /** `flt_<id>_<secret>`: give it to the client; it cannot be shown again. */
  readonly key: string
  readonly info: ApiKeyInfo
}

/** Who made a request, once its key is checked. */
export interface KeyPrincipal {
  /** `key:<id>`: the actor of audit entries and events. */
  readonly name: string
  readonly keyId: string
  readonly keyName: string
  readonly role: Role
  /** The grants in force: the role's, narrowed by the key's scopes. */
  readonly permissions: Grants
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

const PREFIX = 'flt'
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const TOKEN = /^flt_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/
const LAST_USED_EVERY_MS = 60_000
const ZERO_HASH = Buffer.alloc(32)

/** SHA-256 of a key's secret, lowercase hex (the only form in which it is stored). */
export function hashSecret(secret: string): string {
  return sha256Hex(secret)
}

/** What a process remembers of a key it verified: hashes only, never the secret. */
interface VerifiedKey {
  /** SHA-256 of the current secret. */
  readonly current: Buffer
  /** SHA-256 of the rotated-out secret and the end of its grace period. */
  readonly previous: { readonly hash: Buffer; readonly validUntil: number } | null
  readonly expiresAt: number | null
  readonly principal: KeyPrincipal
  /** `clock.now()` when the record was read from the store. */
  readonly readAt: number
}

/** `{ id, secret }` of a well-formed `flt_<id>_<secret>` key, else `undefined`. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(key)
  return m === null ? undefined : { id: m[1] as string, secret: m[2] as string }
}

function newId(): string {
  const bytes = randomBytes(12)
  let id = ''
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length]
  return id
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && timingSafeEqual(x, y)
}

/** A stored hex hash as 32 bytes (a malformed one as zeros, which no secret hashes to). */
function hashBytes(hex: string): Buffer {
  const b = Buffer.from(hex, 'hex')
  return b.length === 32 ? b : ZERO_HASH
}

/** The `AUTH_INVALID` a request gets; the message never says which check failed unless the caller proved the secret. */
function invalid(reason?: string, details: Record<string, unknown> = {}): FlotillaError {
  const why = reason === undefined ? 'it is unknown or its secret is wrong' : reason
  return new FlotillaError('AUTH_INVALID', `The API key is not valid: ${why}. Ask an ADMIN for a new key.`, {
    details: { ...(reason === undefined ? {} : { reason }), ...details },
  })
}

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
  private readonly cacheMs: number
  private readonly verified = new Map<string, VerifiedKey>()
  /** Bumped by every revoke and rotate, so a read begun before one is not remembered after it. */
  private changes = 0

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
    this.cacheMs = cacheMs
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
    const secret = randomBytes(32).toString('base64url')
    const record: ApiKeyRecord = {
      id: newId(),
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
    return { key: `${PREFIX}_${record.id}_${secret}`, info: toInfo(record) }
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
    const known = this.verified.get(parsed.id)
    if (known !== undefined) {
      if (this.clock.now() - known.readAt < this.cacheMs) {
        const principal = this.fromCache(known, hash)
        if (principal !== undefined) return principal
      } else this.verified.delete(parsed.id)
    }
    const changes = this.changes
    const record = await this.store.getKey(parsed.id)
    const readAt = this.clock.now()
    const stored = record === undefined ? undefined : verifiedOf(record, readAt)
    // Compare even for an unknown id, so both take the same time.
    const current = timingSafeEqual(hash, stored?.current ?? ZERO_HASH)
    const now = this.clock.wallNow()
    const previous =
      stored?.previous !== null && stored?.previous !== undefined && timingSafeEqual(hash, stored.previous.hash)
    if (record === undefined || stored === undefined || (!current && !previous)) throw invalid()
    if (record.revokedAt !== null) {
      this.verified.delete(record.id)
      throw invalid('it was revoked', { keyId: record.id })
    }
    if (record.expiresAt !== null && now >= record.expiresAt) throw invalid('it expired', { keyId: record.id })
    if (!current && previous && record.previous !== null && now >= record.previous.validUntil)
      throw invalid('it was rotated and its grace period is over', { keyId: record.id })
    if (record.lastUsedAt === null || now - record.lastUsedAt >= LAST_USED_EVERY_MS) {
      await this.store.touchKey(record.id, now)
    }
    if (this.cacheMs > 0 && changes === this.changes) this.verified.set(record.id, stored)
    return stored.principal
  }

  /** The principal of a remembered key whose secret `hash` matches, `AUTH_INVALID` past its expiry or grace, else `undefined` (ask the store). */
  private fromCache(known: VerifiedKey, hash: Buffer): KeyPrincipal | undefined {
    const current = timingSafeEqual(hash, known.current)
    const previous = !current && known.previous !== null && timingSafeEqual(hash, known.previous.hash)
    if (!current && !previous) return undefined
    const now = this.clock.wallNow()
    const id = known.principal.keyId
    if (known.expiresAt !== null && now >= known.expiresAt) throw invalid('it expired', { keyId: id })
    if (previous && known.previous !== null && now >= known.previous.validUntil)
      throw invalid('it was rotated and its grace period is over', { keyId: id })
    return known.principal
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
    const secret = randomBytes(32).toString('base64url')
    const next: ApiKeyRecord = {
      ...record,
      hash: hashSecret(secret),
      previous: graceMs > 0 ? { hash: record.hash, validUntil: now + graceMs } : null,
      rotatedAt: now,
    }
    this.forget(id)
    await this.store.updateKey(next)
    this.forget(id)
    return { key: `${PREFIX}_${id}_${secret}`, info: toInfo(next) }
  }

  /** Revokes key `id` at once (its rotated-out secret too); revoking twice keeps the first time. */
  async revoke(id: string): Promise<ApiKeyInfo> {
    const record = await this.record(id)
    if (record.revokedAt !== null) return toInfo(record)
    const next: ApiKeyRecord = { ...record, revokedAt: this.clock.wallNow(), previous: null }
    this.forget(id)
    await this.store.updateKey(next)
    this.forget(id)
    return toInfo(next)
  }

  /** Drops what this process remembers of key `id` (before and after a revoke or rotate is stored). */
  private forget(id: string): void {
    this.changes++
    this.verified.delete(id)
  }

  private async record(id: string): Promise<ApiKeyRecord> {
    const record = await this.store.getKey(id)
    if (record === undefined) throw keyNotFound(id)
    return record
  }
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

/** Each role's grants, compiled once (a PermissionSet never changes). */
const ROLE_SETS = new Map<Role, PermissionSet>()

function roleSet(role: Role): PermissionSet {
  let set = ROLE_SETS.get(role)
  if (set === undefined) ROLE_SETS.set(role, (set = new PermissionSet(ROLE_GRANTS[role])))
  return set
}

/** The principal of a stored key: its role's grants, narrowed by its scopes. */
export function principalOf(record: ApiKeyRecord): KeyPrincipal {
  const role = roleSet(record.role)
  const scopes = record.scopes === null ? undefined : new PermissionSet(record.scopes)
  return {
    name: `key:${record.id}`,
    keyId: record.id,
    keyName: record.name,
    role: record.role,
    permissions:
      scopes === undefined
        ? role
        : { allows: (resource, action) => role.allows(resource, action) && scopes.allows(resource, action) },
  }
}

function toInfo(record: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, previous, ...rest } = record
  return { ...rest, previousValidUntil: previous === null ? null : previous.validUntil }
}
