import { describe, expect, it } from 'vitest'
import { checkRange, maxSatisfying, satisfies } from '../../src/registry/semver-range.js'
import { codeOf } from './helpers.js'

describe('satisfies', () => {
  const cases: [string, string, boolean][] = [
    ['1.2.3', '1.2.3', true],
    ['1.2.4', '1.2.3', false],
    ['1.2.3', '=1.2.3', true],
    ['1.2.3', 'v1.2.3', true],
    ['1.2.3+build.7', '1.2.3', true],
    // caret
    ['1.2.0', '^1.2.0', true],
    ['1.9.9', '^1.2.0', true],
    ['1.1.9', '^1.2.0', false],
    ['2.0.0', '^1.2.0', false],
    ['0.2.5', '^0.2.3', true],
    ['0.3.0', '^0.2.3', false],
    ['0.0.3', '^0.0.3', true],
    ['0.0.4', '^0.0.3', false],
    ['1.5.0', '^1', true],
    ['0.9.0', '^0.x', true],
    ['1.0.0', '^0.x', false],
    ['0.1.9', '^0.1', true],
    ['0.2.0', '^0.1', false],
    // tilde
    ['1.2.9', '~1.2.0', true],
    ['1.3.0', '~1.2.0', false],
    ['1.9.0', '~1', true],
    ['2.0.0', '~1', false],
    ['1.2.5', '~>1.2.3', true],
    // comparators joined by spaces
    ['1.0.0', '>=1.0.0 <2.0.0', true],
    ['1.99.0', '>=1.0.0 <2.0.0', true],
    ['2.0.0', '>=1.0.0 <2.0.0', false],
    ['0.9.9', '>=1.0.0 <2.0.0', false],
    ['1.0.0', '>= 1.0.0  < 2.0.0', true],
    ['1.0.1', '>1.0.0', true],
    ['1.0.0', '>1.0.0', false],
    ['1.0.0', '<=1.0.0', true],
    ['1.9.0', '<=1.2', false],
    ['1.2.9', '<=1.2', true],
    ['1.3.0', '>1.2', true],
    ['1.2.9', '>1.2', false],
    ['1.9.0', '<2', true],
    ['2.0.0', '<2', false],
    // alternatives
    ['3.1.0', '^1.0.0 || ^3.0.0', true],
    ['2.1.0', '^1.0.0 || ^3.0.0', false],
    ['2.0.0', '>=1.0.0 <2.0.0 || 3.x', false],
    // wildcards and partials
    ['7.3.1', '*', true],
    ['7.3.1', 'x', true],
    ['1.4.0', '1.x', true],
    ['2.0.0', '1.x', false],
    ['1.2.7', '1.2.x', true],
    ['1.3.0', '1.2.*', false],
    ['1.2.0', '1.2', true],
    ['1.0.0', '1', true],
    ['1.2.3', '>*', false],
    // prereleases only where the range names one of the same MAJOR.MINOR.PATCH
    ['2.0.0-rc.1', '^1.0.0', false],
    ['2.0.0-rc.1', '*', false],
    ['2.0.0-rc.2', '>=2.0.0-rc.1', true],
    ['2.0.0-beta', '>=2.0.0-rc.1', false],
    ['2.1.0-rc.1', '>=2.0.0-rc.1', false],
    ['2.0.0', '>=2.0.0-rc.1', true],
    ['1.2.3-beta.3', '^1.2.3-beta.2', true],
  ]
  it.each(cases)('%s satisfies %s: %s', (version, range, expected) => {
    expect(satisfies(version, range)).toBe(expected)
  })

  it.each([
    '',
    '   ',
    '^',
    '1.2.3.4',
    '>=1.0.0 <',
    'abc',
    '1.x.3',
    '^1.2.0 ||',
    '|| 1.0.0',
    '1.x-beta',
    '=>1.0.0',
    '1.2.3 - 2.0.0',
  ])('refuses the malformed range "%s" with VALIDATION_FAILED naming it', async (range) => {
    expect(await codeOf(() => satisfies('1.0.0', range))).toBe('VALIDATION_FAILED')
    expect(() => checkRange(range)).toThrow(`"${range}"`)
  })

  it('refuses a version that is not semantic', async () => {
    expect(await codeOf(() => satisfies('1.2', '^1.0.0'))).toBe('VALIDATION_FAILED')
  })
})

describe('maxSatisfying', () => {
  const versions = ['1.0.0', '1.4.0', '1.10.0', '2.0.0', '2.1.0-rc.1', '0.9.0']
  it('returns the highest version in the range, comparing numerically', () => {
    expect(maxSatisfying(versions, '^1.0.0')).toBe('1.10.0')
    expect(maxSatisfying(versions, '*')).toBe('2.0.0')
    expect(maxSatisfying(versions, '<1.0.0 || ~1.4')).toBe('1.4.0')
    expect(maxSatisfying(versions, '>=2.1.0-rc.0')).toBe('2.1.0-rc.1')
  })
  it('returns undefined when nothing satisfies, and refuses a malformed range even with no versions', async () => {
    expect(maxSatisfying(versions, '^3.0.0')).toBeUndefined()
    expect(await codeOf(() => maxSatisfying([], '>>1'))).toBe('VALIDATION_FAILED')
  })
})
