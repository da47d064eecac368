import { describe, expect, it } from 'vitest'
import { compareSemver, parseSemver } from '../../src/registry/semver.js'
import { codeOf } from './helpers.js'

describe('semver', () => {
  it('parses MAJOR.MINOR.PATCH with prerelease and ignores build metadata', () => {
    expect(parseSemver('1.4.0-beta.2+sha.5')).toEqual({ major: 1, minor: 4, patch: 0, prerelease: ['beta', '2'] })
    expect(parseSemver('10.0.1')).toEqual({ major: 10, minor: 0, patch: 1, prerelease: [] })
    expect(parseSemver('1.4')).toBeUndefined()
    expect(parseSemver('^1.4.0')).toBeUndefined()
  })

  it('orders numerically, with a prerelease below its release', () => {
    const sorted = [
      '2.0.0',
      '1.10.0',
      '2.0.0-rc.1',
      '1.2.0',
      '2.0.0-alpha',
      '2.0.0-rc.10',
      '2.0.0-rc.2',
      '0.9.9',
      '2.0.0-alpha.1',
    ].sort(compareSemver)
    expect(sorted).toEqual([
      '0.9.9',
      '1.2.0',
      '1.10.0',
      '2.0.0-alpha',
      '2.0.0-alpha.1',
      '2.0.0-rc.1',
      '2.0.0-rc.2',
      '2.0.0-rc.10',
      '2.0.0',
    ])
    expect(compareSemver('1.0.0+build.1', '1.0.0')).toBe(0)
    expect(compareSemver('1.0.0-1', '1.0.0-alpha')).toBeLessThan(0)
  })

  it('throws VALIDATION_FAILED for a string that is not a version', async () => {
    expect(await codeOf(() => compareSemver('latest', '1.0.0'))).toBe('VALIDATION_FAILED')
  })
})
