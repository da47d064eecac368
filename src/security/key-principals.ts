/**
 * What a stored API key shows and grants: its {@link ApiKeyInfo} (the
 * record without the hashes of its secrets) and the {@link KeyPrincipal} a
 * request made with it acts as, its role's grants narrowed by its scopes.
 */
import { PermissionSet, type Grants } from './permissions.js'
import { ROLE_GRANTS, type Role } from './roles.js'
import type { ApiKeyRecord } from './security-store.js'

/** An API key as lists show it: everything but the hash of its secret. */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash' | 'previous'> & {
  /** Until when the secret replaced by the last rotation still works; `null`: it does not. */
  readonly previousValidUntil: number | null
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

/** A stored key as lists show it: without the hashes of its secrets. */
export function toInfo(record: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, previous, ...rest } = record
  return { ...rest, previousValidUntil: previous === null ? null : previous.validUntil }
}
