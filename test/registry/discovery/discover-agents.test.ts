import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Registry } from '../../../src/registry/registry.js'
import { discoverAgents } from '../../../src/registry/discovery/discover-agents.js'
import { agent, codeOf } from '../helpers.js'
import { FIXTURES, IMPORT, agentModule, tempDir, write } from './temp.js'

const AGENTS = join(FIXTURES, 'agents')

describe('discoverAgents on the fixture folder', () => {
  it('registers every agent of the good files and reports each bad file with its code', async () => {
    const registry = new Registry()
    const report = await discoverAgents(registry, AGENTS)

    expect(report.loaded).toEqual([
      { file: join(AGENTS, 'good.agent.mjs'), agents: ['upper@1.0.0', 'lower@1.0.0', 'upper@1.1.0'] },
      { file: join(AGENTS, 'team/nested.agent.js'), agents: ['nested@2.0.0'] },
    ])
    const failed = Object.fromEntries(report.failed.map((f) => [f.file.slice(AGENTS.length + 1), f.code]))
    expect(failed).toEqual({
      'late-duplicate.agent.mjs': 'AGENT_DUPLICATE',
      'invalid.agent.mjs': 'AGENT_INVALID',
      'no-exports.agent.mjs': 'MODULE_LOAD_FAILED',
      'throws.agent.mjs': 'MODULE_LOAD_FAILED',
    })
    for (const f of report.failed) expect(f.message).toContain(f.file)
    expect(report.failed.find((f) => f.file.endsWith('throws.agent.mjs'))!.message).toContain(
      'cannot reach the model endpoint',
    )
    expect(report.failed.find((f) => f.file.endsWith('no-exports.agent.mjs'))!.message).toContain(
      'exports no agent definitions',
    )

    expect(
      registry
        .definitions()
        .map((d) => `${d.name}@${d.version}`)
        .sort(),
    ).toEqual(['lower@1.0.0', 'nested@2.0.0', 'upper@1.0.0', 'upper@1.1.0'])
    expect(registry.getDefinition('upper')!.version).toBe('1.1.0')
    expect(registry.getDefinition('lower')!.handler('ABC' as never, undefined as never)).toBe('abc') // not the duplicate's handler
  })

  it('honours a pattern and the instances option', async () => {
    const registry = new Registry()
    const report = await discoverAgents(registry, AGENTS, { pattern: 'team/*.js', instances: 3 })
    expect(report).toEqual({
      loaded: [{ file: join(AGENTS, 'team/nested.agent.js'), agents: ['nested@2.0.0'] }],
      failed: [],
    })
    expect(registry.instances()).toHaveLength(3)
  })
})

describe('discoverAgents on temp folders', () => {
  let cleanup = (): void => {}
  afterEach(() => cleanup())

  it('reports a syntax error and carries on with the next file', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    write(t.dir, 'a-broken.agent.mjs', `${IMPORT}export const x = defineAgent({ name: 'x', handler: () => {\n`)
    write(t.dir, 'b-good.agent.mjs', agentModule('ok', '1.0.0', 'fine'))
    const registry = new Registry()
    const report = await discoverAgents(registry, t.dir)
    expect(report.failed).toHaveLength(1)
    expect(report.failed[0]).toMatchObject({ file: join(t.dir, 'a-broken.agent.mjs'), code: 'MODULE_LOAD_FAILED' })
    expect(report.loaded).toEqual([{ file: join(t.dir, 'b-good.agent.mjs'), agents: ['ok@1.0.0'] }])
    expect(registry.has('ok')).toBe(true)
  })

  it('loads a file all or nothing: a duplicate of one of its agents leaves none of them registered', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    write(
      t.dir,
      'two.agent.mjs',
      `${IMPORT}export const a = defineAgent({ name: 'fresh', handler: () => 1 })\nexport const b = defineAgent({ name: 'taken', handler: () => 2 })\n`,
    )
    const registry = new Registry()
    await registry.register(agent('taken'))
    const report = await discoverAgents(registry, t.dir)
    expect(report.failed.map((f) => f.code)).toEqual(['AGENT_DUPLICATE'])
    expect(registry.has('fresh')).toBe(false)
    expect(registry.definitions()).toHaveLength(1)
  })

  it('reports two definitions of one name@version in one file, a bad version and a failing initialize', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    write(
      t.dir,
      'dup.agent.mjs',
      `${IMPORT}export default [defineAgent({ name: 'd', handler: () => 1 }), defineAgent({ name: 'd', handler: () => 2 })]\n`,
    )
    write(
      t.dir,
      'fake.agent.mjs',
      `export const f = { kind: 'flotilla.agent', name: 'fake', version: 'one', capabilities: [], tags: [], handler: () => 1 }\n`,
    )
    write(
      t.dir,
      'init.agent.mjs',
      agentModule('init', '1.0.0', 'x', ", initialize: () => { throw new Error('no key') }"),
    )
    const report = await discoverAgents(new Registry(), t.dir)
    expect(report.loaded).toEqual([])
    expect(report.failed.map((f) => [f.file.slice(t.dir.length + 1), f.code])).toEqual([
      ['dup.agent.mjs', 'AGENT_DUPLICATE'],
      ['fake.agent.mjs', 'AGENT_INVALID'],
      ['init.agent.mjs', 'AGENT_INIT_FAILED'],
    ])
  })

  it('reads a changed file afresh on the next discovery', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    write(t.dir, 'v.agent.mjs', agentModule('v', '1.0.0', 'first'))
    const first = new Registry()
    await discoverAgents(first, t.dir)
    write(t.dir, 'v.agent.mjs', agentModule('v', '1.0.0', 'second, longer'))
    const second = new Registry()
    await discoverAgents(second, t.dir)
    expect(first.getDefinition('v')!.handler(undefined as never, undefined as never)).toBe('first')
    expect(second.getDefinition('v')!.handler(undefined as never, undefined as never)).toBe('second, longer')
  })

  it('returns an empty report for a folder without matching files, and refuses bad input', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    write(t.dir, 'x.txt', '')
    expect(await discoverAgents(new Registry(), t.dir)).toEqual({ loaded: [], failed: [] })
    expect(await codeOf(() => discoverAgents(new Registry(), join(t.dir, 'missing')))).toBe('FILE_NOT_FOUND')
    expect(await codeOf(() => discoverAgents(new Registry(), t.dir, { pattern: '{a' }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => discoverAgents(new Registry(), t.dir, { instances: 0 }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => discoverAgents(new Registry(), t.dir, { patern: '*' } as never))).toBe(
      'VALIDATION_FAILED',
    )
  })
})
