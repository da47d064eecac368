import { FlotillaError } from '../core/errors.js'
import { globToRegExp } from '../core/glob.js'

/**
 * One grant: the actions an agent may take on every resource matching a glob.
 * Resources are named `kind:path`: `file:data/a.txt` (workspace files),
 * `tool:search`, `artifact:report`, `agent:analyst` (messages), `event:finding`,
 * `cache:key`. `*` matches within one `/`-segment, `**` across segments, `?`
 * one character, `{a,b}` alternatives; the action `*` means every action.
 *
 * @example
 * ```ts
 * const grants: Permission[] = [
 *   { resource: 'file:data/**', actions: ['read'] },
 *   { resource: 'file:results/*', actions: ['write'] },
 * ]
 * ```
 */
export interface Permission {
  /** A glob over resource names. */
  readonly resource: string
  /** The actions granted (`read`, `write`, `delete`, `call`, `send`…, or `*`). */
  readonly actions: readonly string[]
}

/** Anything that answers whether an action on a resource is granted: a {@link PermissionSet}, or an API key's role narrowed by its scopes. */
export interface Grants {
  allows(resource: string, action: string): boolean
}

const ACTION = /^(?:\*|[a-z][a-z0-9_.-]{0,62})$/

function bad(message: string, details: Record<string, unknown>): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', message, { details })
}

/**
 * Validates a list of permissions (from a spec, an API call…), returning a
 * frozen copy; a malformed entry fails with `VALIDATION_FAILED` naming it.
 *
 * @example
 * ```ts
 * parsePermissions([{ resource: 'tool:*', actions: ['call'] }])
 * ```
 */
export function parsePermissions(value: unknown, field = 'permissions'): readonly Permission[] {
  if (!Array.isArray(value)) throw bad(`${field} must be a list of { resource, actions }.`, { field })
  return Object.freeze(
    value.map((entry: unknown, i) => {
      const where = `${field}[${i}]`
      if (typeof entry !== 'object' || entry === null)
        throw bad(`${where} must be an object { resource, actions }.`, { field: where })
      const { resource, actions } = entry as { resource?: unknown; actions?: unknown }
      if (typeof resource !== 'string' || resource.length === 0)
        throw bad(`${where}.resource must be a non-empty glob like "file:data/**".`, { field: `${where}.resource` })
      globToRegExp(resource) // throws on a malformed glob
      if (
        !Array.isArray(actions) ||
        actions.length === 0 ||
        actions.some((a) => typeof a !== 'string' || !ACTION.test(a))
      ) {
        throw bad(`${where}.actions must be a non-empty list of lowercase action names (or "*").`, {
          field: `${where}.actions`,
        })
      }
      return Object.freeze({ resource, actions: Object.freeze([...new Set(actions as string[])]) })
    }),
  )
}

interface Compiled {
  readonly re: RegExp
  readonly all: boolean
  readonly actions: ReadonlySet<string>
}

/**
 * The permissions an agent holds, compiled once for fast checks.
 *
 * @example
 * ```ts
 * const set = new PermissionSet([{ resource: 'file:data/**', actions: ['read'] }])
 * set.allows('file:data/a/b.txt', 'read') // true
 * set.check('file:data/a.txt', 'write', 'worker-1') // throws PERMISSION_DENIED
 * ```
 */
export class PermissionSet {
  /** The grants, as given (validated). */
  readonly grants: readonly Permission[]
  private readonly compiled: readonly Compiled[]

  constructor(grants: readonly Permission[]) {
    this.grants = parsePermissions(grants)
    this.compiled = this.grants.map((g) => ({
      re: globToRegExp(g.resource),
      all: g.actions.includes('*'),
      actions: new Set(g.actions),
    }))
  }

  /** True when some grant covers `action` on `resource`. */
  allows(resource: string, action: string): boolean {
    for (const c of this.compiled) {
      if ((c.all || c.actions.has(action)) && c.re.test(resource)) return true
    }
    return false
  }

  /**
   * Throws {@link permissionDenied} (`PERMISSION_DENIED`, reason
   * {@link NO_GRANT}) unless {@link allows}.
   *
   * @param agent the name of the agent asking (its `details.agent`)
   */
  check(resource: string, action: string, agent?: string): void {
    if (this.allows(resource, action)) return
    throw permissionDenied(agent, resource, action)
  }
}

/** The `reason` of a denial because no grant covers the access. */
export const NO_GRANT = 'no permission grants it'

/**
 * The one `PERMISSION_DENIED` error of every refused access (a tool call, a
 * workspace file, an artifact, a cache key, a message or an event): its
 * details are always `{ agent, resource, action, reason }` with `agent` the
 * agent's name (left out when unknown) and `reason` a short clause, the
 * same as the `reason` of the `permission.denied` event reported with it.
 *
 * @example
 * ```ts
 * throw permissionDenied('scanner', 'tool:fetch', 'call')
 * // PERMISSION_DENIED: scanner may not call "tool:fetch": no permission grants it. Add { resource: "tool:fetch", actions: ["call"] } …
 * ```
 */
export function permissionDenied(
  agent: string | undefined,
  resource: string,
  action: string,
  reason: string = NO_GRANT,
): FlotillaError {
  const who = agent ?? 'the agent'
  const fix =
    reason === NO_GRANT
      ? ` Add { resource: "${resource}", actions: ["${action}"] } (or a glob covering it) to its permissions (and its parent's).`
      : ''
  return new FlotillaError('PERMISSION_DENIED', `${who} may not ${action} "${resource}": ${reason}.${fix}`, {
    details: { ...(agent === undefined ? {} : { agent }), resource, action, reason },
  })
}

// --- glob containment: is every name matched by `asked` also matched by `held`? ---

type Token = { t: 'lit'; c: string } | { t: 'one' } | { t: 'star' } | { t: 'dirs' } | { t: 'any' }

const MAX_ALTERNATIVES = 256

/** Expands `{a,b}` alternatives (nested too) into plain globs. */
function expandBraces(glob: string): string[] {
  const open = glob.indexOf('{')
  if (open < 0) return [glob]
  let depth = 0
  let close = -1
  const parts: string[] = []
  let start = open + 1
  for (let i = open; i < glob.length; i++) {
    const ch = glob[i]
    if (ch === '{') depth++
    else if (ch === '}' && --depth === 0) {
      close = i
      parts.push(glob.slice(start, i))
      break
    } else if (ch === ',' && depth === 1) {
      parts.push(glob.slice(start, i))
      start = i + 1
    }
  }
  if (close < 0) return [glob] // unbalanced: globToRegExp has already refused it
  const out: string[] = []
  for (const part of parts) {
    for (const rest of expandBraces(glob.slice(0, open) + part + glob.slice(close + 1))) {
      out.push(rest)
      if (out.length > MAX_ALTERNATIVES)
        throw bad(`Pattern "${glob}" has more than ${MAX_ALTERNATIVES} alternatives.`, { pattern: glob })
    }
  }
  return out
}

function tokenize(glob: string): Token[] {
  const out: Token[] = []
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]
    if (ch === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        out.push({ t: 'dirs' })
        i += 2
      } else {
        out.push({ t: 'any' })
        i += 1
      }
    } else if (ch === '*') out.push({ t: 'star' })
    else if (ch === '?') out.push({ t: 'one' })
    else out.push({ t: 'lit', c: ch })
  }
  return out
}

/** True when a token of `asked` only ever stands for characters inside one segment. */
function inSegment(tok: Token): boolean {
  return tok.t === 'one' || tok.t === 'star' || (tok.t === 'lit' && tok.c !== '/')
}

/** Sound (never says yes wrongly) containment of one brace-free glob in another. */
function covers(held: Token[], asked: Token[]): boolean {
  const memo = new Map<number, boolean>()
  const W = asked.length + 1
  // mode 0: normal; mode 1: inside a folder segment consumed by held's `**/`
  const go = (i: number, j: number, mode: number): boolean => {
    const key = (j * W + i) * 2 + mode
    const known = memo.get(key)
    if (known !== undefined) return known
    memo.set(key, false)
    let ok = false
    const a = asked[i]
    if (mode === 1) {
      if (a !== undefined && inSegment(a)) ok = go(i + 1, j, 1)
      else if (a?.t === 'lit' && a.c === '/') ok = go(i + 1, j, 0)
    } else if (j === held.length) {
      ok = i === asked.length
    } else {
      const h = held[j]
      switch (h.t) {
        case 'any':
          ok = go(i, j + 1, 0) || (a !== undefined && go(i + 1, j, 0))
          break
        case 'star':
          ok = go(i, j + 1, 0) || (a !== undefined && inSegment(a) && go(i + 1, j, 0))
          break
        case 'dirs':
          ok =
            go(i, j + 1, 0) ||
            (a?.t === 'dirs' && go(i + 1, j, 0)) ||
            (a !== undefined && inSegment(a) && go(i + 1, j, 1))
          break
        case 'one':
          ok = a !== undefined && (a.t === 'one' || (a.t === 'lit' && a.c !== '/')) && go(i + 1, j + 1, 0)
          break
        case 'lit':
          ok = a?.t === 'lit' && a.c === h.c && go(i + 1, j + 1, 0)
          break
      }
    }
    memo.set(key, ok)
    return ok
  }
  return go(0, 0, 0)
}

/**
 * True when every resource name matched by the glob `asked` is also matched
 * by the glob `held`. Sound: a `true` is always right; for exotic pairs it may
 * answer `false` where a cleverer check would say yes (ask for a narrower glob).
 *
 * @example
 * ```ts
 * globCovers('file:data/**', 'file:data/in/*.txt') // true
 * globCovers('file:data/*', 'file:data/**') // false
 * ```
 */
export function globCovers(held: string, asked: string): boolean {
  const heldAlts = expandBraces(held).map(tokenize)
  return expandBraces(asked).every((alt) => {
    const tokens = tokenize(alt)
    return heldAlts.some((h) => covers(h, tokens))
  })
}

/** True when the grants `held` cover action `action` on every resource of the glob `resource`. */
function heldCovers(held: readonly Permission[], resource: string, action: string): boolean {
  return held.some((g) => (g.actions.includes('*') || g.actions.includes(action)) && globCovers(g.resource, resource))
}

/**
 * The permissions of a child agent: what it asks for, after checking that its
 * parent holds all of it. Asking for nothing (`undefined`) inherits the
 * parent's permissions. Asking for more than the parent holds fails with
 * `PERMISSION_ESCALATION` listing every grant that is not covered: never a
 * silent cut.
 *
 * @example
 * ```ts
 * const parent = [{ resource: 'file:data/**', actions: ['read', 'write'] }]
 * inheritPermissions(parent, [{ resource: 'file:data/in/*', actions: ['read'] }]) // ok
 * inheritPermissions(parent, [{ resource: 'file:**', actions: ['read'] }]) // throws PERMISSION_ESCALATION
 * ```
 */
export function inheritPermissions(
  parent: readonly Permission[],
  asked: readonly Permission[] | undefined,
  child = 'the child agent',
): readonly Permission[] {
  if (asked === undefined) return parsePermissions(parent)
  const wanted = parsePermissions(asked)
  const excess: { resource: string; action: string }[] = []
  for (const g of wanted) {
    for (const action of g.actions) {
      if (!heldCovers(parent, g.resource, action)) excess.push({ resource: g.resource, action })
    }
  }
  if (excess.length > 0) {
    const list = excess.map((e) => `${e.action} on "${e.resource}"`).join(', ')
    throw new FlotillaError(
      'PERMISSION_ESCALATION',
      `${child} asks for more than its parent holds: ${list}. Ask for a subset of the parent's permissions.`,
      {
        details: { agent: child, excess },
      },
    )
  }
  return wanted
}
