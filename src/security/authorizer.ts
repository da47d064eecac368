import type { FlotillaError } from '../core/errors.js'
import { NO_GRANT, permissionDenied, type Grants } from './permissions.js'

/**
 * What an access is to. Typed, so no caller builds `kind:name` strings by
 * hand; {@link resourceName} gives the string grants are matched against
 * (`tool:fetch`, `file:data/a.txt`, `artifact:report`, `cache:k`,
 * `agent:writer`, `event:done`; for API keys also `workflow:nightly`,
 * `run:<id>`, `worker:<id>`, `key:<id>`, `block:<target>`, `audit:log`).
 */
export type Resource =
  | { readonly kind: 'tool'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'artifact'; readonly id: string }
  | { readonly kind: 'cache'; readonly key: string }
  | { readonly kind: 'agent'; readonly name: string }
  | { readonly kind: 'event'; readonly type: string }
  | { readonly kind: 'workflow'; readonly name: string }
  | { readonly kind: 'run'; readonly id: string }
  | { readonly kind: 'worker'; readonly id: string }
  | { readonly kind: 'key'; readonly id: string }
  | { readonly kind: 'block'; readonly target: string }
  | { readonly kind: 'audit' }
  | { readonly kind: 'alerts' }

/** What is done to a resource (the actions grants name). */
export type Action =
  | 'call'
  | 'read'
  | 'write'
  | 'list'
  | 'delete'
  | 'send'
  | 'request'
  | 'publish'
  | 'subscribe'
  // what API keys do (see ROLE_GRANTS)
  | 'validate'
  | 'start'
  | 'pause'
  | 'resume'
  | 'cancel'
  | 'replay'
  | 'deploy'
  | 'scale'
  | 'restart'
  | 'terminate'
  | 'execute'
  | 'receive'
  | 'create'
  | 'rotate'
  | 'revoke'
  | 'verify'
  | 'lift'

/** Who asks: a name (its `details.agent` in a denial) and its grants; no grants object means unrestricted. */
export interface Principal {
  readonly name: string | undefined
  readonly permissions?: Grants | undefined
}

/** The outcome of one decision, as the audit hook and the `permission.denied` event see it. */
export interface Decision {
  readonly allowed: boolean
  /** The principal's name, when it has one. */
  readonly principal: string | undefined
  /** The resource as grants name it, e.g. `artifact:report`. */
  readonly resource: string
  readonly action: Action
  /** Why: {@link NO_GRANT}, a short clause of the caller's (e.g. "it leads out of the workspace"), or "granted". */
  readonly reason: string
}

/** Hears every decision (allowed and denied); where an audit log attaches. */
export type DecisionListener = (decision: Decision) => void

/** The string grants are matched against for a typed resource. */
export function resourceName(resource: Resource): string {
  switch (resource.kind) {
    case 'tool':
      return `tool:${resource.name}`
    case 'file':
      return `file:${resource.path}`
    case 'artifact':
      return `artifact:${resource.id}`
    case 'cache':
      return `cache:${resource.key}`
    case 'agent':
      return `agent:${resource.name}`
    case 'event':
      return `event:${resource.type}`
    case 'workflow':
      return `workflow:${resource.name}`
    case 'run':
      return `run:${resource.id}`
    case 'worker':
      return `worker:${resource.id}`
    case 'key':
      return `key:${resource.id}`
    case 'block':
      return `block:${resource.target}`
    case 'audit':
      return 'audit:log'
    case 'alerts':
      return 'alerts:rules'
  }
}

/**
 * Makes every permission decision of agents — tool calls, workspace files,
 * artifacts, cache keys, messages, events — in one place: one rule (a grant
 * covering the action on the resource, or no grants object at all), one
 * `PERMISSION_DENIED` shape, and one hook ({@link Authorizer.onDecision})
 * where auditing attaches.
 *
 * @example
 * ```ts
 * const authorizer = new Authorizer()
 * const stop = authorizer.onDecision((d) => { if (!d.allowed) console.warn(d.principal, d.action, d.resource) })
 * const scanner = { name: 'scanner', permissions: new PermissionSet([{ resource: 'tool:fetch', actions: ['call'] }]) }
 * authorizer.allows(scanner, { kind: 'tool', name: 'fetch' }, 'call') // true
 * authorizer.authorize(scanner, { kind: 'file', path: 'secrets.txt' }, 'read') // throws PERMISSION_DENIED
 * stop()
 * ```
 */
export class Authorizer {
  private readonly listeners = new Set<DecisionListener>()

  /** Listens to every decision; returns the function that stops listening. A listener that throws is ignored. */
  onDecision(listener: DecisionListener): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  /** Decides without throwing. */
  decide(principal: Principal, resource: Resource, action: Action): Decision {
    const name = resourceName(resource)
    const allowed = principal.permissions === undefined || principal.permissions.allows(name, action)
    return this.record({
      allowed,
      principal: principal.name,
      resource: name,
      action,
      reason: allowed ? 'granted' : NO_GRANT,
    })
  }

  /** True when `principal` may take `action` on `resource`. */
  allows(principal: Principal, resource: Resource, action: Action): boolean {
    return this.decide(principal, resource, action).allowed
  }

  /**
   * Throws the `PERMISSION_DENIED` of every denial unless `principal` may;
   * `onDenied` (e.g. the `permission.denied` event of an agent) hears the
   * decision first.
   */
  authorize(principal: Principal, resource: Resource, action: Action, onDenied?: DecisionListener): void {
    const d = this.decide(principal, resource, action)
    if (d.allowed) return
    onDenied?.(d)
    throw permissionDenied(principal.name, d.resource, action, d.reason)
  }

  /**
   * A denial decided by the caller for a reason of its own (a path leading
   * out of a workspace): recorded like any decision, told to `onDenied`, and
   * returned as the `PERMISSION_DENIED` to throw.
   */
  deny(
    principal: Principal,
    resource: Resource,
    action: Action,
    reason: string,
    onDenied?: DecisionListener,
  ): FlotillaError {
    const d = this.record({
      allowed: false,
      principal: principal.name,
      resource: resourceName(resource),
      action,
      reason,
    })
    onDenied?.(d)
    return permissionDenied(principal.name, d.resource, action, reason)
  }

  /** The items `principal` may take `action` on (e.g. the artifacts it may read), without recording each one. */
  filter<T>(principal: Principal, items: readonly T[], resourceOf: (item: T) => Resource, action: Action): T[] {
    const perms = principal.permissions
    if (perms === undefined) return [...items]
    return items.filter((item) => perms.allows(resourceName(resourceOf(item)), action))
  }

  private record(decision: Decision): Decision {
    for (const l of this.listeners) {
      try {
        l(decision)
      } catch {
        // A listener's failure never changes a decision; listeners report their own errors.
      }
    }
    return decision
  }
}

/** The authorizer agents use unless an orchestrator is given another. */
export const defaultAuthorizer = new Authorizer()
