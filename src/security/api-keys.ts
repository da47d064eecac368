import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { inheritPermissions, parsePermissions, PermissionSet, type Grants, type Permission } from './permissions.js'
import { parseRole, ROLE_GRANTS, type Role } from './roles.js'
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

/** SHA-256 of a key's secret, lowercase hex (the only form in which it is stored). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
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

  constructor(
    private readonly store: SecurityStore,
    options: { clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? systemClock
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
   */
  async authenticate(key: string): Promise<KeyPrincipal> {
    const parsed = parseApiKey(key)
    if (parsed === undefined) throw invalid('it is not of the form flt_<id>_<secret>')
    const record = await this.store.getKey(parsed.id)
    const hash = hashSecret(parsed.secret)
    // Compare even for an unknown id, so both take the same time.
    const current = sameHash(hash, record?.hash ?? '0'.repeat(64))
    const now = this.clock.wallNow()
    const previous = record?.previous !== null && record?.previous !== undefined && sameHash(hash, record.previous.hash)
    if (record === undefined || (!current && !previous)) throw invalid()
    if (record.revokedAt !== null) throw invalid('it was revoked', { keyId: record.id })
    if (record.expiresAt !== null && now >= record.expiresAt) throw invalid('it expired', { keyId: record.id })
    if (!current && previous && record.previous !== null && now >= record.previous.validUntil)
      throw invalid('it was rotated and its grace period is over', { keyId: record.id })
    if (record.lastUsedAt === null || now - record.lastUsedAt >= LAST_USED_EVERY_MS) {
      await this.store.updateKey({ ...record, lastUsedAt: now })
    }
    return principalOf(record)
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
    await this.store.updateKey(next)
    return { key: `${PREFIX}_${id}_${secret}`, info: toInfo(next) }
  }

  /** Revokes key `id` at once (its rotated-out secret too); revoking twice keeps the first time. */
  async revoke(id: string): Promise<ApiKeyInfo> {
    const record = await this.record(id)
    if (record.revokedAt !== null) return toInfo(record)
    const next: ApiKeyRecord = { ...record, revokedAt: this.clock.wallNow(), previous: null }
    await this.store.updateKey(next)
    return toInfo(next)
  }

  private async record(id: string): Promise<ApiKeyRecord> {
    const record = await this.store.getKey(id)
    if (record === undefined) throw keyNotFound(id)
    return record
  }
}

/** The principal of a stored key: its role's grants, narrowed by its scopes. */
export function principalOf(record: ApiKeyRecord): KeyPrincipal {
  const role = new PermissionSet(ROLE_GRANTS[record.role])
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
