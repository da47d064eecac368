import { describe, expect, it } from 'vitest'
import { globCovers, inheritPermissions, parsePermissions, PermissionSet } from '../../src/security/permissions.js'
import { isFlotillaError } from '../../src/core/errors.js'

describe('globCovers', () => {
  const cases: [string, string, boolean][] = [
    ['file:data/**', 'file:data/in/*.txt', true],
    ['file:data/*', 'file:data/**', false],
    ['file:data/*', 'file:data/x.txt', true],
    ['file:data/*', 'file:data/a/x.txt', false],
    ['**', 'file:x', true],
    ['file:**/*.txt', 'file:a/b/c.txt', true],
    ['file:**/*.txt', 'file:c.txt', true],
    ['file:**/*.txt', 'file:a/*.md', false],
    ['tool:*', 'tool:search', true],
    ['tool:{a,b}', 'tool:a', true],
    ['tool:{a,b}', 'tool:{a,c}', false],
    ['tool:{a,b,c}', 'tool:{a,c}', true],
    ['file:data/**/x', 'file:data/**/x', true],
    ['file:data/?', 'file:data/*', false],
    ['file:data/*', 'file:data/?', true],
    ['file:data/**', 'file:data', false],
    ['file:results/*', 'file:data/*', false],
  ]
  it.each(cases)('%s covers %s → %s', (held, asked, expected) => {
    expect(globCovers(held, asked)).toBe(expected)
  })

  it('agrees with matching on concrete names', () => {
    const names = ['file:data/a.txt', 'file:data/a/b.txt', 'file:x', 'tool:search', 'file:data/', 'file:data/a/b/c.md']
    const globs = [
      'file:data/*',
      'file:data/**',
      'file:**/*.txt',
      '**',
      'tool:*',
      'file:data/*/b.txt',
      'file:data/**/*.md',
    ]
    for (const held of globs) {
      const set = new PermissionSet([{ resource: held, actions: ['read'] }])
      for (const name of names) {
        // a concrete name is covered exactly when it matches
        expect(globCovers(held, name), `${held} ⊇ ${name}`).toBe(set.allows(name, 'read'))
      }
    }
  })
})

describe('PermissionSet', () => {
  const set = new PermissionSet([
    { resource: 'file:data/**', actions: ['read'] },
    { resource: 'file:results/*', actions: ['write', 'read'] },
    { resource: 'tool:*', actions: ['*'] },
  ])
  it('allows what a grant covers and nothing else', () => {
    expect(set.allows('file:data/a/b.txt', 'read')).toBe(true)
    expect(set.allows('file:data/a/b.txt', 'write')).toBe(false)
    expect(set.allows('file:results/r.json', 'write')).toBe(true)
    expect(set.allows('file:results/sub/r.json', 'write')).toBe(false)
    expect(set.allows('tool:search', 'call')).toBe(true)
    expect(set.allows('artifact:x', 'read')).toBe(false)
  })
  it('check throws PERMISSION_DENIED naming agent, resource and action', () => {
    try {
      set.check('file:data/a.txt', 'delete', 'worker-1')
      expect.unreachable()
    } catch (err) {
      expect(isFlotillaError(err) && err.code).toBe('PERMISSION_DENIED')
      expect(String((err as Error).message)).toMatch(/worker-1 may not delete "file:data\/a.txt"/)
    }
  })
  it('refuses malformed grants', () => {
    expect(() => parsePermissions('x')).toThrow(/must be a list/)
    expect(() => parsePermissions([{ resource: '', actions: ['read'] }])).toThrow(/resource/)
    expect(() => parsePermissions([{ resource: 'a', actions: [] }])).toThrow(/actions/)
    expect(() => parsePermissions([{ resource: 'a{b', actions: ['read'] }])).toThrow(/malformed/)
    expect(() => parsePermissions([{ resource: 'a', actions: ['Read!'] }])).toThrow(/actions/)
  })
})

describe('inheritPermissions', () => {
  const parent = [
    { resource: 'file:data/**', actions: ['read', 'write'] },
    { resource: 'tool:*', actions: ['call'] },
  ]
  it('gives the child exactly what it asks when the parent holds it', () => {
    const child = inheritPermissions(parent, [{ resource: 'file:data/in/*', actions: ['read'] }])
    expect(child).toEqual([{ resource: 'file:data/in/*', actions: ['read'] }])
  })
  it('inherits everything when the child asks for nothing', () => {
    expect(inheritPermissions(parent, undefined)).toEqual(parent)
  })
  it('raises PERMISSION_ESCALATION listing every excess grant', () => {
    try {
      inheritPermissions(
        parent,
        [
          { resource: 'file:**', actions: ['read'] },
          { resource: 'tool:x', actions: ['call', 'delete'] },
        ],
        'child-a',
      )
      expect.unreachable()
    } catch (err) {
      expect(isFlotillaError(err) && err.code).toBe('PERMISSION_ESCALATION')
      expect(isFlotillaError(err) && err.details.excess).toEqual([
        { resource: 'file:**', action: 'read' },
        { resource: 'tool:x', action: 'delete' },
      ])
    }
  })
  it('a parent holding * actions may pass on any action', () => {
    expect(
      inheritPermissions([{ resource: '**', actions: ['*'] }], [{ resource: 'file:x', actions: ['delete'] }]),
    ).toHaveLength(1)
    expect(() =>
      inheritPermissions([{ resource: '**', actions: ['read'] }], [{ resource: 'file:x', actions: ['*'] }]),
    ).toThrow(/asks for more/)
  })
})
