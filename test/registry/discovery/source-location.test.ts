import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { importAgentFile } from '../../../src/registry/discovery/agent-file.js'
import { discoverAgents } from '../../../src/registry/discovery/discover-agents.js'
import { parseSyntaxArrow, stackLocation } from '../../../src/registry/discovery/source-location.js'
import { Registry } from '../../../src/registry/registry.js'
import { IMPORT, tempDir, write } from './temp.js'

async function failure(
  fn: () => Promise<unknown>,
): Promise<{ code?: unknown; message: string; details: Record<string, unknown> }> {
  try {
    await fn()
  } catch (e) {
    return e as { code?: unknown; message: string; details: Record<string, unknown> }
  }
  throw new Error('expected a failure')
}

describe('MODULE_LOAD_FAILED says where', () => {
  let cleanup = (): void => {}
  afterEach(() => cleanup())

  it('gives the line and column of a syntax error in an agent module', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    const file = write(
      t.dir,
      'broken.agent.mjs',
      `${IMPORT}export const a = defineAgent({\n  name: 'a',\n  version: '1.0.0' 2,\n  handler: () => 1,\n})\n`,
    )
    const err = await failure(() => importAgentFile(file))
    expect(err.code).toBe('MODULE_LOAD_FAILED')
    expect(err.details).toMatchObject({ file, line: 4, column: 20 })
    expect(err.message).toContain('line 4, column 20')
  })

  it('counts a tab as one column in a .js module, and the discovery report carries line and column', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    write(t.dir, 'package.json', '{ "type": "module" }')
    const file = write(t.dir, 'tabbed.agent.js', `${IMPORT}\n\tconst x = ;\n`)
    const report = await discoverAgents(new Registry(), t.dir)
    expect(report.failed).toEqual([expect.objectContaining({ file, code: 'MODULE_LOAD_FAILED', line: 3, column: 12 })])
    expect(report.failed[0].message).toContain('line 3, column 12')
  })

  it('gives the line of a throw at the top level of the module', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    const file = write(
      t.dir,
      'throws.agent.mjs',
      `${IMPORT}const ok = 1\nthrow new Error('cannot reach the model endpoint')\n`,
    )
    const err = await failure(() => importAgentFile(file, '1'))
    expect(err.code).toBe('MODULE_LOAD_FAILED')
    expect(err.message).toContain('cannot reach the model endpoint')
    expect(err.details.line).toBe(3)
  })
})

describe('parseSyntaxArrow and stackLocation', () => {
  it('reads the header and caret Node prints', () => {
    expect(parseSyntaxArrow('/a/b.mjs:4\n  y: 2 3\n       ^\n\nSyntaxError: Unexpected number')).toEqual({
      file: '/a/b.mjs',
      line: 4,
      column: 8,
    })
    expect(parseSyntaxArrow('file:///a/b.mjs:2\n\n\n\nSyntaxError: Unexpected end of input')).toEqual({
      file: '/a/b.mjs',
      line: 2,
    })
    expect(parseSyntaxArrow('(node:12) Warning: x:1\nnothing here')).toBeUndefined()
  })

  it('finds the first frame inside the file, with a cache-busting query', () => {
    const file = join('/tmp', 'x.agent.mjs')
    const error = new Error('boom')
    error.stack = `Error: boom\n    at file://${file}?v=123-45:7:11\n    at other (file:///elsewhere.mjs:1:1)`
    expect(stackLocation(error, file)).toEqual({ file, line: 7, column: 11 })
    expect(stackLocation(error, '/tmp/other.mjs')).toBeUndefined()
  })
})
