import { FlotillaError } from '../core/errors.js'
import type { Permission } from './permissions.js'
import type { Role } from './roles.js'

/**
 * One API key as stored: never the secret, only its SHA-256. The key a user
 * holds is `flt_<id>_<secret>`; `id` is public (it names the key in lists,
 * the audit log and URLs).
 */
export interface ApiKeyRecord {
  /** 12 lowercase letters and digits; the public part of the key. */
  readonly id: string
  /** A label chosen at creation (`ci`, `dashboard`…). */
  readonly name: string
  readonly role: Role
  /** Grants narrower than the role's; `null`: the role's grants. */
  readonly scopes: readonly Permission[] | null
  /** SHA-256 of the secret, lowercase hex. */
  readonly hash: string
  /** The secret replaced by the last rotation, valid until `validUntil` (ms since the epoch). */
  readonly previous: { readonly hash: string; readonly validUntil: number } | null
  /** Who created it: the actor of the request (`key:<id>`, `cli`, `serve`). */
  readonly createdBy: string
  readonly createdAt: number
  /** After this time (ms since the epoch) the key is refused; `null`: never. */
  readonly expiresAt: number | null
  /** When it was revoked; `null`: it was not. */
  readonly revokedAt: number | null
  /** When it was last rotated; `null`: never. */
  readonly rotatedAt: number | null
  /** When it last authenticated a request (updated at most once a minute); `null`: never. */
  readonly lastUsedAt: number | null
}

/** A key or an address refused for a while after repeated failures (or by an ADMIN). */
export interface BlockRecord {
  /** `key:<id>` or `ip:<address>`. */
  readonly target: string
  /** Why, in words (`25 authentication failures in 60 s`). */
  readonly reason: string
  readonly createdAt: number
  /** The block ends at this time (ms since the epoch). */
  readonly until: number
  /** Who blocked: `threat-detection` or the actor of an ADMIN's request. */
  readonly createdBy: string
}

/**
 * Where API keys and blocks are kept: memory, SQLite or PostgreSQL (the
 * store of the server's backend). Small and driver-free; the contract suite
 * `securityStoreContract` (flotilla/testing/contracts) checks an adapter.
 */
export interface SecurityStore {
  /** Adds a key; `VALIDATION_FAILED` when its id is taken. */
  insertKey(record: ApiKeyRecord): Promise<void>
  /** The key of this id, or `undefined`. */
  getKey(id: string): Promise<ApiKeyRecord | undefined>
  /** Every key, oldest first. */
  listKeys(): Promise<ApiKeyRecord[]>
  /** Replaces a stored key (same id); `KEY_NOT_FOUND` when there is none. */
  updateKey(record: ApiKeyRecord): Promise<void>
  /**
   * Sets only `lastUsedAt` of key `id` (no other field: a revoke or rotate
   * stored meanwhile by another request or process stays); an unknown id is
   * ignored.
   */
  touchKey(id: string, lastUsedAt: number): Promise<void>
  /** Adds or replaces the block of `record.target`. */
  putBlock(record: BlockRecord): Promise<void>
  /** Blocks still in force at `now`, soonest to end first. */
  listBlocks(now: number): Promise<BlockRecord[]>
  /** The block of `target` in force at `now`, or `undefined`. */
  getBlock(target: string, now: number): Promise<BlockRecord | undefined>
  /** Ends the block of `target`; `false` when there was none in force. */
  liftBlock(target: string, now: number): Promise<boolean>
}

/** `KEY_NOT_FOUND` for `id`. */
export function keyNotFound(id: string): FlotillaError {
  return new FlotillaError('KEY_NOT_FOUND', `No API key "${id}". \`flotilla keys list\` shows the keys there are.`, {
    details: { keyId: id },
  })
}
