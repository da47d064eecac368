import { asAgentId } from '../../src/core/ids.js'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'
import { openStore } from '../../src/store/open-store.js'
import { ROOT, runCli, tempDir } from './run-cli.js'

const { dir, cleanup } = tempDir('flotilla-agent-records-')
const DB = join(dir, 'agents.db')
const MODULE = join(ROOT, 'test/fixtures/team/tree-agents.mjs')
let parentId = ''
let kidId = ''

describe('flotilla agent list / show', () => {
  beforeAll(async () => {
    ensureFreshBuild()
    const o = new Orchestrator({ store: DB, runtimes: [new InProcessRuntime()], workspaceRoot: join(dir, 'ws') })
    const p = await o.agents.deploy({
      name: 'parent',
      module: MODULE,
      export: 'parent',
      runtime: 'inprocess',
      permissions: [{ resource: '**', actions: ['*'] }],
    })
    const [kid] = (await o.agents.execute(p.id, { op: 'spawn', names: ['kid'] })) as { id: string }[]
    await o.agents.pause(p.id)
    await o.agents.terminate(kid.id, 'done with it')
    parentId = p.id
    kidId = kid.id
    await o.close()
  }, 120_000)
  afterAll(() => cleanup())

  it('lists stored agents with their states and reasons; filters by state', async () => {
    const all = await runCli(['agent', 'list', '--store', DB, '--json'])
    expect(all.code).toBe(0)
    const agents = JSON.parse(all.stdout) as { id: string; name: string; state: string; parentId: string | null }[]
    expect(agents.map((a) => [a.name, a.parentId])).toEqual([
      ['parent', null],
      ['kid', parentId],
    ])
    // closing the orchestrator terminated the parent
    expect(agents.map((a) => a.state)).toEqual(['TERMINATED', 'TERMINATED'])
    const plain = await runCli(['agent', 'list', '--store', DB])
    expect(plain.stdout).toMatch(/ID\s+NAME\s+PARENT\s+RUNTIME\s+STATE/)
    expect(plain.stdout).toContain('done with it')
    const none = await runCli(['agent', 'list', '--store', DB, '--state', 'RUNNING'])
    expect(none.stdout).toMatch(/No deployed agents/)
    const bad = await runCli(['agent', 'list', '--store', DB, '--state', 'ASLEEP'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/not an agent state/)
  })

  it('shows every lifecycle transition of an agent', async () => {
    const shown = await runCli(['agent', 'show', parentId, '--store', DB, '--json'])
    expect(shown.code).toBe(0)
    const { transitions } = JSON.parse(shown.stdout) as { transitions: { from: string | null; to: string }[] }
    expect(transitions.map((t) => [t.from, t.to])).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'RUNNING'],
      ['RUNNING', 'PAUSED'],
      ['PAUSED', 'TERMINATED'],
    ])
    const plain = await runCli(['agent', 'show', kidId, '--store', DB])
    expect(plain.stdout).toContain('kid@1.0.0')
    expect(plain.stdout).toContain('done with it')
    const missing = await runCli(['agent', 'show', 'agt_nope', '--store', DB])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/error \[AGENT_NOT_FOUND\]/)
  })

  it('reconcile fails the agents a dead orchestrator left RUNNING, once', async () => {
    const store = openStore(DB)
    const pid = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString(),
    )
    const rec = {
      id: asAgentId('agt_orphan'),
      name: 'orphan',
      version: '1.0.0',
      parentId: null,
      runtime: 'process',
      state: 'PENDING' as const,
      reason: null,
      spec: {},
      permissions: [],
      limits: {},
      pid: null,
      createdAt: 1,
      updatedAt: 1,
    }
    await store.saveAgent(rec, { from: null, to: 'PENDING', reason: 'deploy', at: 1 })
    await store.saveAgent({ ...rec, state: 'RUNNING', pid }, { from: 'PENDING', to: 'RUNNING', reason: null, at: 2 })
    await store.close()
    const first = await runCli(['agent', 'reconcile', '--store', DB])
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/agt_orphan orphan: FAILED \(orphaned: its process \d+ is gone/)
    const again = await runCli(['agent', 'reconcile', '--store', DB, '--json'])
    expect(JSON.parse(again.stdout)).toEqual([])
    const shown = JSON.parse((await runCli(['agent', 'show', 'agt_orphan', '--store', DB, '--json'])).stdout) as {
      agent: { state: string }
    }
    expect(shown.agent.state).toBe('FAILED')
  })
})
