import { FlotillaError } from '../core/errors.js'
import type { Permission } from './permissions.js'

/**
 * The roles an API key can have, from most to least powerful. A key's role
 * says what it may do ({@link ROLE_GRANTS}); optional scopes on the key narrow
 * that further, never widen it.
 */
export const ROLES = ['ADMIN', 'OPERATOR', 'ANALYST', 'SERVICE', 'GUEST'] as const

/** One of {@link ROLES}. */
export type Role = (typeof ROLES)[number]

/** What each role is for, one line each (the role table of `docs/security.md`). */
export const ROLE_DESCRIPTIONS: Readonly<Record<Role, string>> = {
  ADMIN: 'Everything, including API keys, the audit log and blocks.',
  OPERATOR: 'Runs workflows and controls runs and deployed agents; reads and writes shared context.',
  ANALYST: 'Reads everything a run leaves behind, and the audit log; changes nothing.',
  SERVICE: 'A program that starts workflows, talks to agents and shares context; reads its results.',
  GUEST: 'Sees the workflow catalog and the workers; nothing about runs.',
}

/**
 * The grants of each role, in the `{ resource, actions }` globs agents use.
 * Resources of the API: `workflow:<name>`, `run:<id>`, `agent:<name>`,
 * `artifact:<id>`, `cache:<key>`, `event:<type>`, `worker:<id>`,
 * `key:<id>` (`key:self`: the asking key), `audit:log`, `block:<target>`, `alerts:rules` (ADMIN only). `docs/security.md` shows this
 * table; a test keeps the two equal.
 */
export const ROLE_GRANTS: Readonly<Record<Role, readonly Permission[]>> = deepFreeze({
  ADMIN: [{ resource: '**', actions: ['*'] }],
  OPERATOR: [
    { resource: 'key:self', actions: ['read'] },
    { resource: 'workflow:*', actions: ['read', 'validate', 'start'] },
    { resource: 'run:*', actions: ['read', 'pause', 'resume', 'cancel', 'replay'] },
    {
      resource: 'agent:*',
      actions: ['read', 'deploy', 'pause', 'resume', 'scale', 'restart', 'terminate', 'execute', 'send', 'receive'],
    },
    { resource: 'artifact:**', actions: ['read', 'write'] },
    { resource: 'cache:**', actions: ['read', 'write'] },
    { resource: 'event:*', actions: ['subscribe'] },
    { resource: 'worker:*', actions: ['read'] },
    { resource: 'block:*', actions: ['read'] },
  ],
  ANALYST: [
    { resource: 'key:self', actions: ['read'] },
    { resource: 'workflow:*', actions: ['read', 'validate'] },
    { resource: 'run:*', actions: ['read'] },
    { resource: 'agent:*', actions: ['read'] },
    { resource: 'artifact:**', actions: ['read'] },
    { resource: 'cache:**', actions: ['read'] },
    { resource: 'event:*', actions: ['subscribe'] },
    { resource: 'worker:*', actions: ['read'] },
    { resource: 'audit:log', actions: ['read', 'verify'] },
  ],
  SERVICE: [
    { resource: 'key:self', actions: ['read'] },
    { resource: 'workflow:*', actions: ['read', 'validate', 'start'] },
    { resource: 'run:*', actions: ['read'] },
    { resource: 'agent:*', actions: ['read', 'execute', 'send', 'receive'] },
    { resource: 'artifact:**', actions: ['read', 'write'] },
    { resource: 'cache:**', actions: ['read', 'write'] },
    { resource: 'event:*', actions: ['subscribe'] },
  ],
  GUEST: [
    { resource: 'key:self', actions: ['read'] },
    { resource: 'workflow:*', actions: ['read'] },
    { resource: 'worker:*', actions: ['read'] },
  ],
})

/** True for one of {@link ROLES}. */
export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

/**
 * `value` as a {@link Role}, or `VALIDATION_FAILED` naming the roles there are.
 *
 * @example
 * ```ts
 * parseRole('operator') // 'OPERATOR'
 * ```
 */
export function parseRole(value: unknown, field = 'role'): Role {
  const upper = typeof value === 'string' ? value.toUpperCase() : value
  if (isRole(upper)) return upper
  throw new FlotillaError('VALIDATION_FAILED', `${field} must be one of ${ROLES.join(', ')}; got ${String(value)}.`, {
    details: { field, roles: [...ROLES] },
  })
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
