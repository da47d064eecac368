import { FlotillaError } from '../core/errors.js'
import { compareSemver, parseSemver, type SemVer } from './semver.js'

type Op = '<' | '<=' | '>' | '>=' | '='

interface Comparator {
  readonly op: Op
  readonly version: SemVer
}

/** One `||` alternative: every comparator must hold. An empty list holds for every release. */
type ComparatorSet = readonly Comparator[]

const PARTIAL = /^v?(\d+|[xX*])(?:\.(\d+|[xX*])(?:\.(\d+|[xX*])(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?)?)?$/
const OPERATOR = /^(<=|>=|<|>|=|\^|~>?)?(.*)$/

function malformed(range: string, why: string): FlotillaError {
  return new FlotillaError(
    'VALIDATION_FAILED',
    `Version range "${range}" is malformed: ${why}. Write an exact version (1.2.3), ^1.2.0, ~1.2.0, 1.x, *, comparators joined by spaces (>=1.0.0 <2.0.0), or alternatives joined by ||.`,
    { details: { range } },
  )
}

function v(major: number, minor: number, patch: number, prerelease: readonly string[] = []): SemVer {
  return { major, minor, patch, prerelease }
}

function text(s: SemVer): string {
  return `${s.major}.${s.minor}.${s.patch}${s.prerelease.length > 0 ? `-${s.prerelease.join('.')}` : ''}`
}

function isWild(part: string | undefined): boolean {
  return part === undefined || part === 'x' || part === 'X' || part === '*'
}

/** Turns one comparator token (`^1.2`, `>=1.0.0`, `1.x`, `*`) into plain comparators. */
function desugar(token: string, range: string): Comparator[] {
  const [, rawOp = '', rest] = OPERATOR.exec(token)!
  const op = rawOp === '~>' ? '~' : rawOp
  const m = PARTIAL.exec(rest)
  if (!m) throw malformed(range, `"${token}" is not a version or comparator`)
  const [, maj, min, pat, pre] = m
  // A wildcard part makes every part after it a wildcard: 1.x.3 means 1.x.
  const wildAt = isWild(maj) ? 0 : isWild(min) ? 1 : isWild(pat) ? 2 : 3
  if ([maj, min, pat].slice(wildAt).some((p) => p !== undefined && !isWild(p)))
    throw malformed(range, `"${token}" has a number after a wildcard`)
  if (pre !== undefined && wildAt < 3) throw malformed(range, `"${token}" has a prerelease on a wildcard version`)
  const M = wildAt > 0 ? Number(maj) : 0
  const m2 = wildAt > 1 ? Number(min) : 0
  const p = wildAt > 2 ? Number(pat) : 0
  const prerelease = pre === undefined ? [] : pre.split('.')
  const lower = v(M, m2, p, prerelease)
  // The first version above the partial: 1 → 2.0.0, 1.2 → 1.3.0, 1.2.3 → 1.2.4 (only used when wildAt < 3).
  const above = wildAt === 1 ? v(M + 1, 0, 0) : wildAt === 2 ? v(M, m2 + 1, 0) : v(M, m2, p + 1)

  switch (op) {
    case '':
    case '=':
      if (wildAt === 0) return []
      if (wildAt === 3) return [{ op: '=', version: lower }]
      return [
        { op: '>=', version: lower },
        { op: '<', version: above },
      ]
    case '^': {
      if (wildAt === 0) return []
      let upper: SemVer
      if (M > 0 || wildAt === 1) upper = v(M + 1, 0, 0)
      else if (m2 > 0 || wildAt === 2) upper = v(0, m2 + 1, 0)
      else upper = v(0, 0, p + 1)
      return [
        { op: '>=', version: lower },
        { op: '<', version: upper },
      ]
    }
    case '~':
    case '~>': {
      if (wildAt === 0) return []
      const upper = wildAt === 1 ? v(M + 1, 0, 0) : v(M, m2 + 1, 0)
      return [
        { op: '>=', version: lower },
        { op: '<', version: upper },
      ]
    }
    case '>':
      if (wildAt === 0) return [{ op: '<', version: v(0, 0, 0, ['0']) }] // nothing is above "any"
      return wildAt === 3 ? [{ op: '>', version: lower }] : [{ op: '>=', version: above }]
    case '>=':
      return wildAt === 0 ? [] : [{ op: '>=', version: lower }]
    case '<':
      return wildAt === 0 ? [{ op: '<', version: v(0, 0, 0, ['0']) }] : [{ op: '<', version: lower }]
    case '<=':
      if (wildAt === 0) return []
      return wildAt === 3 ? [{ op: '<=', version: lower }] : [{ op: '<', version: above }]
    default:
      throw malformed(range, `unknown operator "${op}"`)
  }
}

const cache = new Map<string, readonly ComparatorSet[]>()

/** Parses a range into its `||` alternatives; throws `VALIDATION_FAILED` naming the range. */
function parseRange(range: string): readonly ComparatorSet[] {
  if (typeof range !== 'string') throw malformed(String(range), 'a range must be a string')
  const hit = cache.get(range)
  if (hit) return hit
  if (range.trim() === '') throw malformed(range, 'it is empty (use * for any version)')
  const sets = range.split('||').map((alt) => {
    // Glue an operator to its version: ">= 1.0.0" is ">=1.0.0".
    const tokens = alt
      .trim()
      .replace(/(<=|>=|<|>|=|\^|~>?)\s+/g, '$1')
      .split(/\s+/)
      .filter((t) => t !== '')
    if (tokens.length === 0) throw malformed(range, 'an alternative between || is empty')
    return tokens.flatMap((t) => desugar(t, range))
  })
  if (cache.size > 1000) cache.clear()
  cache.set(range, sets)
  return sets
}

function holds(c: Comparator, version: string): boolean {
  const cmp = compareSemver(version, text(c.version))
  switch (c.op) {
    case '<':
      return cmp < 0
    case '<=':
      return cmp <= 0
    case '>':
      return cmp > 0
    case '>=':
      return cmp >= 0
    case '=':
      return cmp === 0
  }
}

function setHolds(set: ComparatorSet, version: string, parsed: SemVer): boolean {
  if (!set.every((c) => holds(c, version))) return false
  if (parsed.prerelease.length === 0) return true
  // As npm: a prerelease satisfies only a range that names a prerelease of the same MAJOR.MINOR.PATCH.
  return set.some(
    (c) =>
      c.version.prerelease.length > 0 &&
      c.version.major === parsed.major &&
      c.version.minor === parsed.minor &&
      c.version.patch === parsed.patch,
  )
}

/**
 * Throws `VALIDATION_FAILED` naming `range` when it is not a valid version
 * range; returns nothing otherwise. Use it to check a range at the boundary
 * (a workflow file, an option) before any version is compared.
 *
 * @example
 * ```ts
 * checkRange('^1.2.0') // fine
 * checkRange('^1.2.0 <') // throws VALIDATION_FAILED
 * ```
 */
export function checkRange(range: string): void {
  parseRange(range)
}

/**
 * True when `version` satisfies `range`. Ranges follow npm: an exact
 * version `1.2.3` (or `=1.2.3`), `^1.2.0` (same major; same minor below
 * 1.0.0), `~1.2.0` (same minor), comparators `<`, `<=`, `>`, `>=` joined by
 * spaces (all must hold), alternatives joined by `||`, and wildcards `*`,
 * `x`, `1.x`, `1.2.*` or partial versions (`1`, `1.2`). A prerelease
 * (`2.0.0-rc.1`) satisfies only a range that names a prerelease of the same
 * `MAJOR.MINOR.PATCH`. Throws `VALIDATION_FAILED` for a malformed range or a
 * `version` that is not a semantic version.
 *
 * @example
 * ```ts
 * satisfies('1.4.2', '^1.2.0') // true
 * satisfies('2.0.0', '>=1.0.0 <2.0.0 || 3.x') // false
 * ```
 */
export function satisfies(version: string, range: string): boolean {
  const sets = parseRange(range)
  const parsed = parseSemver(version)
  if (!parsed) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `"${version}" is not a semantic version: write MAJOR.MINOR.PATCH, like 1.2.0.`,
      { details: { version } },
    )
  }
  return sets.some((set) => setHolds(set, version, parsed))
}

/**
 * The highest of `versions` that satisfies `range` (see {@link satisfies}),
 * or `undefined` when none does. Throws `VALIDATION_FAILED` for a malformed
 * range or an entry that is not a semantic version.
 *
 * @example
 * ```ts
 * maxSatisfying(['1.0.0', '1.4.0', '2.0.0'], '^1.0.0') // '1.4.0'
 * ```
 */
export function maxSatisfying(versions: Iterable<string>, range: string): string | undefined {
  parseRange(range)
  let best: string | undefined
  for (const version of versions) {
    if (satisfies(version, range) && (best === undefined || compareSemver(version, best) > 0)) best = version
  }
  return best
}
