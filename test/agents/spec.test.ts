import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { isFlotillaError, type FlotillaError } from '../../src/core/errors.js'
import { agentSpecSchema, loadAgentSpec, parseAgentSpec } from '../../src/agents/spec.js'

const dir = mkdtempSync(join(tmpdir(), 'flotilla-spec-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function failure(fn: () => unknown): FlotillaError {
  try {
    fn()
  } catch (e) {
    if (isFlotillaError(e)) return e
    throw e
  }
  throw new Error('expected a failure')
}

async function asyncFailure(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p
  } catch (e) {
    if (isFlotillaError(e)) return e
    throw e
  }
  throw new Error('expected a failure')
}

describe('parseAgentSpec', () => {
  it('applies the defaults and resolves the module against the spec file’s folder', () => {
    const spec = parseAgentSpec(
      { name: 'scanner', module: './agents/scanner.mjs' },
      { source: '/srv/specs/scanner.json' },
    )
    expect(spec).toEqual({
      name: 'scanner',
      version: '1.0.0',
      module: '/srv/specs/agents/scanner.mjs',
      export: 'default',
      tools: [],
      limits: {},
      env: {},
      capabilities: [],
      tags: [],
    })
  })

  it('keeps every field of a full spec, with absolute and file: URL modules', () => {
    const spec = parseAgentSpec(
      {
        name: 'analyst',
        version: '2.1.0',
        description: 'reads data',
        module: '/abs/analyst.mjs',
        export: 'analyst',
        tools: ['grep'],
        toolsModule: pathToFileURL('/abs/tools.mjs').href,
        permissions: [{ resource: 'file:data/**', actions: ['read', 'read'] }],
        limits: { memoryMb: 256, cpuMs: 60_000, storageMb: 0.5 },
        env: { MODE: 'fast' },
        parent: 'agt_1',
        runtime: 'inprocess',
        capabilities: ['analysis'],
        tags: ['team-a'],
      },
      { source: 'spec.json' },
    )
    expect(spec.module).toBe('/abs/analyst.mjs')
    expect(spec.toolsModule).toBe('/abs/tools.mjs')
    expect(spec.permissions).toEqual([{ resource: 'file:data/**', actions: ['read'] }])
    expect(spec.limits).toEqual({ memoryMb: 256, cpuMs: 60_000, storageMb: 0.5 })
    expect(spec).toMatchObject({
      version: '2.1.0',
      export: 'analyst',
      env: { MODE: 'fast' },
      parent: 'agt_1',
      runtime: 'inprocess',
      capabilities: ['analysis'],
      tags: ['team-a'],
    })
  })

  it('parses YAML text, relative to baseDir', () => {
    const spec = parseAgentSpec('name: a\nmodule: a.mjs\ntools: [x]\n', { baseDir: '/base' })
    expect(spec.module).toBe('/base/a.mjs')
    expect(spec.tools).toEqual(['x'])
  })

  it.each([
    [{ module: 'a.mjs' }, 'name', 'field "name"'],
    [{ name: 'bad name!', module: 'a.mjs' }, 'name', 'letters, digits'],
    [{ name: 'a' }, 'module', 'field "module"'],
    [{ name: 'a', module: 'a.mjs', version: 'one' }, 'version', 'semantic version'],
    [
      {
        name: 'a',
        module: 'a.mjs',
        permissions: [
          { resource: 'file:**', actions: ['read'] },
          { resource: '', actions: ['read'] },
        ],
      },
      'permissions[1].resource',
      'non-empty glob',
    ],
    [
      { name: 'a', module: 'a.mjs', permissions: [{ resource: 'file:x', actions: ['READ'] }] },
      'permissions[0].actions',
      'lowercase',
    ],
    [
      { name: 'a', module: 'a.mjs', permissions: [{ resource: 'file:a**b', actions: ['read'] }] },
      'permissions[0].resource',
      'whole path segment',
    ],
    [{ name: 'a', module: 'a.mjs', limits: { memoryMb: -1 } }, 'limits.memoryMb', 'field "limits.memoryMb"'],
    [{ name: 'a', module: 'a.mjs', limits: { cpuMs: 0 } }, 'limits.cpuMs', 'field "limits.cpuMs"'],
    [{ name: 'a', module: 'a.mjs', limits: { disk: 1 } }, 'disk', 'unknown field "disk" in "limits"'],
    [{ name: 'a', module: 'a.mjs', env: { N: 1 } }, 'env.N', 'field "env.N"'],
    [{ name: 'a', module: 'a.mjs', runtime: 'k8s' }, 'runtime', 'inprocess'],
    [{ name: 'a', module: 'a.mjs', tools: ['ok', ''] }, 'tools[1]', 'non-empty'],
    [{ name: 'a', module: 'a.mjs', command: 'x' }, 'command', 'unknown field "command" in the spec'],
  ])('refuses %j with AGENT_SPEC_INVALID naming %s and the source', (value, field, text) => {
    const e = failure(() => parseAgentSpec(value, { source: 'agents/a.yaml' }))
    expect(e.code).toBe('AGENT_SPEC_INVALID')
    expect(e.details).toMatchObject({ field, source: 'agents/a.yaml' })
    expect(e.message).toContain('agents/a.yaml: ')
    expect(e.message).toContain(text)
  })

  it('refuses a spec that is not a mapping, and malformed YAML with its line', () => {
    expect(failure(() => parseAgentSpec(['a'])).message).toContain('not a list')
    const e = failure(() => parseAgentSpec('name: [a\nmodule: x\n', { source: 's.yaml' }))
    expect(e.code).toBe('AGENT_SPEC_INVALID')
    expect(e.message).toMatch(/s\.yaml: not valid YAML\/JSON at line \d+/)
  })

  it('exposes the schema with its defaults', () => {
    // runtime and permissions stay unset: a child then takes its parent's, a root the supervisor's default runtime and no permissions
    expect(agentSpecSchema.parse({ name: 'a', module: 'm.mjs' }).runtime).toBeUndefined()
    expect(agentSpecSchema.parse({ name: 'a', module: 'm.mjs' }).permissions).toBeUndefined()
  })
})

describe('loadAgentSpec', () => {
  it('loads JSON and YAML files, resolving the module against the file', async () => {
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ name: 'a', module: './a.mjs', limits: { storageMb: 5 } }))
    writeFileSync(join(dir, 'b.yml'), 'name: b\nmodule: ../b.mjs\nenv:\n  KEY: v\n')
    expect(await loadAgentSpec(join(dir, 'a.json'))).toMatchObject({
      name: 'a',
      module: join(dir, 'a.mjs'),
      limits: { storageMb: 5 },
    })
    expect(await loadAgentSpec(join(dir, 'b.yml'))).toMatchObject({
      name: 'b',
      module: join(dir, '../b.mjs'),
      env: { KEY: 'v' },
    })
  })

  it('names the file in failures; a missing file is FILE_NOT_FOUND; another extension is refused', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'name: a\nmodule: a.mjs\nlimits:\n  memoryMb: "lots"\n')
    const bad = await asyncFailure(loadAgentSpec(join(dir, 'bad.yaml')))
    expect(bad.code).toBe('AGENT_SPEC_INVALID')
    expect(bad.message).toContain(`${join(dir, 'bad.yaml')}: field "limits.memoryMb"`)
    expect((await asyncFailure(loadAgentSpec(join(dir, 'nope.json')))).code).toBe('FILE_NOT_FOUND')
    writeFileSync(join(dir, 'a.toml'), '')
    expect((await asyncFailure(loadAgentSpec(join(dir, 'a.toml')))).code).toBe('AGENT_SPEC_INVALID')
  })
})
