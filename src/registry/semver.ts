import { FlotillaError } from '../core/errors.js'

/** A parsed semantic version (`MAJOR.MINOR.PATCH[-prerelease][+build]`). */
export interface SemVer {
  readonly major: number
  readonly minor: number
  readonly patch: number
  /** Dot-separated prerelease identifiers; empty for a release. */
  readonly prerelease: readonly string[]
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/
const NUMERIC = /^\d+$/

/**
 * Parses `MAJOR.MINOR.PATCH`, with an optional `-prerelease` and `+build`
 * (build metadata is ignored). Returns `undefined` for anything else; no
 * ranges.
 *
 * @example
 * ```ts
 * parseSemver('1.4.0-beta.2') // { major: 1, minor: 4, patch: 0, prerelease: ['beta', '2'] }
 * ```
 */
export function parseSemver(version: string): SemVer | undefined {
  const m = SEMVER.exec(version)
  if (!m) return undefined
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    prerelease: m[4] === undefined ? [] : m[4].split('.'),
  }
}

function parseOrThrow(version: string): SemVer {
  const parsed = parseSemver(version)
  if (!parsed) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `"${version}" is not a semantic version: write MAJOR.MINOR.PATCH, like 1.2.0 or 2.0.0-beta.1.`,
      {
        details: { version },
      },
    )
  }
  return parsed
}

function compareIdentifiers(a: string, b: string): number {
  const aNum = NUMERIC.test(a)
  const bNum = NUMERIC.test(b)
  if (aNum && bNum) return Math.sign(Number(a) - Number(b))
  if (aNum) return -1
  if (bNum) return 1
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Orders two semantic versions: negative when `a` is older, positive when
 * newer, `0` when equal in precedence. A prerelease sorts before its release
 * (`2.0.0-rc.1 < 2.0.0`); prerelease identifiers compare as in semver 2.0
 * (numbers numerically and below words). Build metadata is ignored.
 * Throws `VALIDATION_FAILED` for a string that is not a version.
 *
 * @example
 * ```ts
 * ['1.10.0', '1.2.0', '2.0.0-rc.1'].sort(compareSemver) // ['1.2.0', '1.10.0', '2.0.0-rc.1']
 * ```
 */
export function compareSemver(a: string, b: string): number {
  const x = parseOrThrow(a)
  const y = parseOrThrow(b)
  const core = Math.sign(x.major - y.major) || Math.sign(x.minor - y.minor) || Math.sign(x.patch - y.patch)
  if (core !== 0) return core
  const xp = x.prerelease
  const yp = y.prerelease
  if (xp.length === 0) return yp.length === 0 ? 0 : 1
  if (yp.length === 0) return -1
  const n = Math.min(xp.length, yp.length)
  for (let i = 0; i < n; i++) {
    const c = compareIdentifiers(xp[i], yp[i])
    if (c !== 0) return c
  }
  return Math.sign(xp.length - yp.length)
}
