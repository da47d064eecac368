import { afterEach, describe, expect, it } from 'vitest'
import { globToRegExp } from '../../../src/core/glob.js'
import { listMatchingFiles } from '../../../src/registry/discovery/glob.js'
import { codeOf } from '../helpers.js'
import { tempDir, write } from './temp.js'

describe('globToRegExp', () => {
  const cases: [string, string, boolean][] = [
    ['**/*.agent.{js,mjs}', 'a.agent.js', true],
    ['**/*.agent.{js,mjs}', 'x/y/a.agent.mjs', true],
    ['**/*.agent.{js,mjs}', 'a.agent.ts', false],
    ['**/*.agent.{js,mjs}', 'a.agentxjs', false],
    ['*.js', 'a.js', true],
    ['*.js', 'sub/a.js', false],
    ['sub/*.js', 'sub/a.js', true],
    ['a?.js', 'ab.js', true],
    ['a?.js', 'a/.js', false],
    ['a?.js', 'abc.js', false],
    ['src/**', 'src/a/b/c.ts', true],
    ['src/**/x.ts', 'src/x.ts', true],
    ['src/**/x.ts', 'src/a/b/x.ts', true],
    ['{agents,team}/*.{js,m{js,ts}}', 'team/a.mts', true],
    ['{agents,team}/*.{js,m{js,ts}}', 'other/a.js', false],
    ['{a,}b.js', 'b.js', true],
    ['a+(b).js', 'a+(b).js', true],
    ['a+(b).js', 'aab.js', false],
    ['a,b.js', 'a,b.js', true],
  ]
  it.each(cases)('%s matches %s: %s', (glob, path, expected) => {
    expect(globToRegExp(glob).test(path)).toBe(expected)
  })
  it.each(['', '{a,b', 'a}', 'a**/b', '/abs/*.js'])('refuses "%s" with VALIDATION_FAILED', async (glob) => {
    expect(await codeOf(() => globToRegExp(glob))).toBe('VALIDATION_FAILED')
  })
})

describe('listMatchingFiles', () => {
  let cleanup = (): void => {}
  afterEach(() => cleanup())

  it('walks subfolders, skips node_modules and dot-folders, sorts', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    for (const f of [
      'b.agent.js',
      'a/z.agent.mjs',
      'a/b/c.agent.js',
      'node_modules/p/x.agent.js',
      '.hidden/y.agent.js',
      'readme.md',
    ])
      write(t.dir, f, '')
    const files = await listMatchingFiles(t.dir, globToRegExp('**/*.agent.{js,mjs}'))
    expect(files.map((f) => f.slice(t.dir.length + 1))).toEqual(['a/b/c.agent.js', 'a/z.agent.mjs', 'b.agent.js'])
  })

  it('throws FILE_NOT_FOUND for a missing folder or a file', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    const file = write(t.dir, 'f.txt', '')
    expect(await codeOf(() => listMatchingFiles(`${t.dir}/missing`, /x/))).toBe('FILE_NOT_FOUND')
    expect(await codeOf(() => listMatchingFiles(file, /x/))).toBe('FILE_NOT_FOUND')
  })
})
