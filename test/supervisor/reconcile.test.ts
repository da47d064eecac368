import { asAgentId } from '../../src/core/ids.js'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { AgentState } from '../../src/core/states.js'
import { AgentSupervisor } from '../../src/runtimes/supervisor.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import type { AgentRecord } from '../../src/store/records.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

/** A pid that existed and is gone: a child that already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
  return Number(r.stdout.toString())
}

async function seed(
  store: MemoryStore,
  id: string,
  runtime: string,
  state: AgentState,
  pid: number | null,
): Promise<void> {
  const at = 1_000
  const base: AgentRecord = {
    id: asAgentId(id),
    name: id,
    version: '1.0.0',
    parentId: null,
    runtime,
    state: 'PENDING',
    reason: null,
    spec: {},
    permissions: [],
    limits: {},
    pid: null,
    createdAt: at,
    updatedAt: at,
  }
  await store.saveAgent(base, { from: null, to: 'PENDING', reason: 'deploy', at })
  if (state !== 'PENDING')
    await store.saveAgent({ ...base, state, pid }, { from: 'PENDING', to: state, reason: null, at })
}

describe('reconcile: agents an orchestrator that is gone left behind', () => {
  it('fails process agents whose process is gone; keeps live ones and, by default, in-process ones', async () => {
    const store = new MemoryStore()
    await seed(store, 'agt_dead', 'process', 'RUNNING', deadPid())
    await seed(store, 'agt_alive', 'process', 'PAUSED', process.pid)
    await seed(store, 'agt_inproc', 'inprocess', 'RUNNING', null)
    await seed(store, 'agt_done', 'process', 'TERMINATED', null)
    const supervisor = new AgentSupervisor({ store, runtimes: [new InProcessRuntime()], workspaceRoot: '/tmp/unused' })
    const failed = await supervisor.reconcile()
    expect(failed.map((r) => r.id)).toEqual(['agt_dead'])
    const dead = await store.getAgent('agt_dead')
    expect(dead).toMatchObject({ state: 'FAILED', pid: null })
    expect(dead?.reason).toMatch(/orphaned: its process \d+ is gone/)
    expect((await store.listAgentTransitions('agt_dead')).map((t) => t.to)).toEqual(['PENDING', 'RUNNING', 'FAILED'])
    expect((await store.getAgent('agt_alive'))?.state).toBe('PAUSED')
    expect((await store.getAgent('agt_inproc'))?.state).toBe('RUNNING')
    // one orchestrator per store: everything it does not hold is orphaned
    expect((await supervisor.reconcile({ all: true })).map((r) => r.id)).toEqual(['agt_inproc'])
    expect((await store.getAgent('agt_done'))?.state).toBe('TERMINATED')
    await supervisor.close()
  })

  it('leaves the agents it holds alone', async () => {
    const store = new MemoryStore()
    const root = mkdtempSync(join(tmpdir(), 'flotilla-reconcile-'))
    const supervisor = new AgentSupervisor({ store, runtimes: [new InProcessRuntime()], workspaceRoot: root })
    const fixture = new URL('../fixtures/team/tree-agents.mjs', import.meta.url).pathname
    const a = await supervisor.deploy({ name: 'kept', module: fixture, export: 'child' })
    expect(await supervisor.reconcile({ all: true })).toEqual([])
    expect((await supervisor.status(a.id)).state).toBe('RUNNING')
    await supervisor.close()
    rmSync(root, { recursive: true, force: true })
  })
})
