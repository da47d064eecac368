import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'

const AGENTS = `import { defineAgent } from '${new URL('../../src/index.ts', import.meta.url).href}'
export const lister = defineAgent({ name: 'lister', handler: async (folder, ctx) => ctx.workspace.list(folder) })
export const writer = defineAgent({ name: 'writer', handler: async (text, ctx) => { await ctx.workspace.write('out.txt', text); return text } })
`

describe('orchestrator.agents.deploy and workspace folders', () => {
  let dir: string
  let cwd: string
  let o: Orchestrator

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-deploy-ws-'))
    await writeFile(join(dir, 'agents.mjs'), AGENTS)
    cwd = process.cwd()
    o = new Orchestrator({
      store: 'memory',
      runtimes: [new InProcessRuntime()],
      workspaceRoot: join(dir, 'agents-root'),
    })
  })
  afterEach(async () => {
    process.chdir(cwd)
    await o.close()
    await rm(dir, { recursive: true, force: true })
  })

  const spec = (exportName: string) => ({
    name: exportName,
    module: join(dir, 'agents.mjs'),
    export: exportName,
    runtime: 'inprocess',
    permissions: [{ resource: 'file:**', actions: ['*'] }],
  })

  it('accepts a relative workspace, resolved against the current folder like the CLI --workspace', async () => {
    await mkdir(join(dir, 'ws/data'), { recursive: true })
    await writeFile(join(dir, 'ws/data/a.txt'), 'a')
    process.chdir(dir)
    const agent = await o.agents.deploy(spec('lister'), { workspace: 'ws' })
    expect(await o.agents.execute(agent.id, 'data')).toEqual(['data/a.txt'])
  })

  it('removes the empty folder made for an agent when it terminates, and keeps one holding files', async () => {
    const idle = await o.agents.deploy(spec('lister'))
    const busy = await o.agents.deploy(spec('writer'))
    await o.agents.execute(busy.id, 'kept')
    expect((await readdir(join(dir, 'agents-root'))).sort()).toEqual([`lister-${idle.id}`, `writer-${busy.id}`])
    await o.agents.terminate(idle.id)
    await o.agents.terminate(busy.id)
    expect(await readdir(join(dir, 'agents-root'))).toEqual([`writer-${busy.id}`])
    expect(await readFile(join(dir, 'agents-root', `writer-${busy.id}`, 'out.txt'), 'utf8')).toBe('kept')
  })

  it('never removes a workspace it was given', async () => {
    await mkdir(join(dir, 'given'))
    const agent = await o.agents.deploy(spec('lister'), { workspace: join(dir, 'given') })
    await o.agents.terminate(agent.id)
    expect(existsSync(join(dir, 'given'))).toBe(true)
  })
})
