import { asAgentId } from '../../src/core/ids.js'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isFlotillaError } from '../../src/core/errors.js'
import { AgentSupervisor } from '../../src/runtimes/supervisor.js'
import type { SupervisorEvent } from '../../src/runtimes/supervisor-types.js'
import type { DeployRequest, Runtime, RuntimeHandle, RuntimeHooks } from '../../src/runtimes/runtime.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'

/** A test double of the Runtime port: handlers by module name, crashes on demand. */
class ScriptedRuntime implements Runtime {
  readonly kind = 'scripted'
  readonly handles = new Map<
    string,
    { request: DeployRequest; hooks: RuntimeHooks; terminated: boolean; paused: boolean }
  >()
  async deploy(request: DeployRequest, hooks: RuntimeHooks): Promise<RuntimeHandle> {
    if (request.module.endsWith('broken.mjs')) throw new Error(`Cannot find module ${request.module}`)
    const state = { request, hooks, terminated: false, paused: false }
    this.handles.set(request.instanceId, state)
    return {
      instanceId: request.instanceId,
      pid: 4242,
      execute: async (input) => {
        if (state.terminated) throw new Error('terminated')
        if (input === 'spawn')
          return hooks.call('spawn', {
            spec: { name: 'kid', permissions: [{ resource: 'file:data/in/*', actions: ['read'] }] },
          })
        if (input === 'boom') throw new Error('boom')
        return { echo: input, by: request.name }
      },
      pause: async () => void (state.paused = true),
      resume: async () => void (state.paused = false),
      scale: async () => undefined,
      usage: async () => ({ memoryBytes: 1000, heapUsedBytes: 500, cpuMs: 7, storageBytes: 3, at: Date.now() }),
      terminate: async () => void (state.terminated = true),
    }
  }
  crash(id: string): void {
    this.handles
      .get(id)!
      .hooks.onExit({ code: 'AGENT_CRASHED', reason: 'exited with code 3', details: { exitCode: 3 } })
  }
  async close(): Promise<void> {}
}

const parentGrants = [
  { resource: 'file:data/**', actions: ['read', 'write'] },
  { resource: 'tool:*', actions: ['call'] },
]

describe('AgentSupervisor', () => {
  let store: MemoryStore
  let runtime: ScriptedRuntime
  let supervisor: AgentSupervisor
  let events: SupervisorEvent[]
  let root: string

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-sup-'))
    store = new MemoryStore()
    runtime = new ScriptedRuntime()
    events = []
    supervisor = new AgentSupervisor({
      store,
      runtimes: [runtime],
      workspaceRoot: root,
      onEvent: (e) => events.push(e),
    })
  })
  afterEach(async () => {
    await supervisor.close()
    await rm(root, { recursive: true, force: true })
  })

  const deployParent = () =>
    supervisor.deploy({
      name: 'parent',
      module: '/x/agent.mjs',
      permissions: parentGrants,
      limits: { memoryMb: 256, cpuMs: 10_000 },
    })

  it('deploys: PENDING then RUNNING, each transition stored and emitted', async () => {
    const a = await deployParent()
    expect(a.state).toBe('RUNNING')
    expect(a.pid).toBe(4242)
    const transitions = await store.listAgentTransitions(a.id)
    expect(transitions.map((t) => [t.from, t.to])).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'RUNNING'],
    ])
    expect(events.filter((e) => e.type === 'agent.state').map((e) => (e.type === 'agent.state' ? e.to : ''))).toEqual([
      'PENDING',
      'RUNNING',
    ])
    expect(await supervisor.execute(a.id, 'hi')).toEqual({ echo: 'hi', by: 'parent' })
  })

  it('a failed deploy is stored TERMINATED with the reason, leaves no live agent and no workspace', async () => {
    const err = await supervisor.deploy({ name: 'bad', module: '/x/broken.mjs' }).catch((e: unknown) => e)
    expect(isFlotillaError(err) && err.code).toBe('AGENT_DEPLOY_FAILED')
    const [record] = await store.listAgents({ name: 'bad' })
    expect(record.state).toBe('TERMINATED')
    expect(record.reason).toMatch(/deploy failed: Cannot find module/)
    await expect(stat(join(root, `bad-${record.id}`))).rejects.toThrow()
    expect((await supervisor.clusterUsage()).agents).toBe(0)
  })

  it('enforces the lifecycle: pause refuses commands, resume restores, illegal moves are typed errors', async () => {
    const a = await deployParent()
    await supervisor.pause(a.id)
    await expect(supervisor.execute(a.id, 1)).rejects.toMatchObject({ code: 'AGENT_STATE_INVALID' })
    await expect(supervisor.pause(a.id)).rejects.toMatchObject({ code: 'AGENT_STATE_INVALID' })
    await supervisor.resume(a.id)
    expect(await supervisor.execute(a.id, 1)).toEqual({ echo: 1, by: 'parent' })
    await supervisor.terminate(a.id)
    await expect(supervisor.execute(a.id, 1)).rejects.toMatchObject({ code: 'AGENT_TERMINATED' })
    await expect(supervisor.resume(a.id)).rejects.toMatchObject({ code: 'AGENT_TERMINATED' })
    await supervisor.terminate(a.id) // idempotent
    const states = (await store.listAgentTransitions(a.id)).map((t) => t.to)
    expect(states).toEqual(['PENDING', 'RUNNING', 'PAUSED', 'RUNNING', 'TERMINATED'])
  })

  it('children get the intersection they ask for; asking for more is PERMISSION_ESCALATION, more resources RESOURCE_LIMIT_EXCEEDED', async () => {
    const p = await deployParent()
    const kid = await supervisor.deploy(
      {
        name: 'kid',
        module: '/x/agent.mjs',
        permissions: [{ resource: 'file:data/in/*', actions: ['read'] }],
        limits: { memoryMb: 64 },
      },
      { parentId: p.id },
    )
    expect(kid.parentId).toBe(p.id)
    expect(kid.limits).toEqual({ memoryMb: 64, cpuMs: 10_000 })
    expect(await supervisor.checkPermission(kid.id, 'file:data/in/a.txt', 'read')).toBe(true)
    expect(await supervisor.checkPermission(kid.id, 'file:data/in/a.txt', 'write')).toBe(false)
    await expect(
      supervisor.deploy(
        { name: 'greedy', module: '/x/agent.mjs', permissions: [{ resource: 'file:**', actions: ['read'] }] },
        { parentId: p.id },
      ),
    ).rejects.toMatchObject({ code: 'PERMISSION_ESCALATION' })
    await expect(
      supervisor.deploy({ name: 'big', module: '/x/agent.mjs', limits: { memoryMb: 1024 } }, { parentId: p.id }),
    ).rejects.toMatchObject({ code: 'RESOURCE_LIMIT_EXCEEDED' })
    // nothing half-written for the refused children
    expect((await store.listAgents({ parentId: asAgentId(p.id) })).map((a) => a.name)).toEqual(['kid'])
    // a child inherits everything when it asks for nothing
    const heir = await supervisor.deploy({ name: 'heir', module: '/x/agent.mjs' }, { parentId: p.id })
    expect(heir.permissions).toEqual(parentGrants)
  })

  it('an agent spawns children through its context, and commands only its own', async () => {
    const p = await deployParent()
    const ref = (await supervisor.execute(p.id, 'spawn')) as { id: string; name: string }
    expect(ref.name).toBe('kid')
    const tree = await supervisor.tree(p.id)
    expect(tree.children.map((c) => c.id)).toEqual([ref.id])
    expect((await supervisor.parent(ref.id))?.id).toBe(p.id)
    const other = await supervisor.deploy({ name: 'other', module: '/x/agent.mjs' })
    const hooks = runtime.handles.get(other.id)!.hooks
    await expect(hooks.call('child.execute', { id: ref.id, input: 1 })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    })
    expect(await runtime.handles.get(p.id)!.hooks.call('child.execute', { id: ref.id, input: 2 })).toEqual({
      echo: 2,
      by: 'kid',
    })
  })

  it('terminates a subtree children first', async () => {
    const p = await deployParent()
    const c = await supervisor.deploy({ name: 'c', module: '/x/agent.mjs' }, { parentId: p.id })
    const g = await supervisor.deploy({ name: 'g', module: '/x/agent.mjs' }, { parentId: c.id })
    events.length = 0
    await supervisor.terminate(p.id)
    const order = events.filter((e) => e.type === 'agent.state' && e.to === 'TERMINATED').map((e) => e.agentId)
    expect(order).toEqual([g.id, c.id, p.id])
    expect((await supervisor.status(g.id)).reason).toBe(`parent ${c.id} terminated`)
    expect(runtime.handles.get(g.id)!.terminated).toBe(true)
  })

  it('a crashed agent is FAILED with the reason and its subtree is cleaned up; restart brings it back', async () => {
    const p = await deployParent()
    const c = await supervisor.deploy({ name: 'c', module: '/x/agent.mjs' }, { parentId: p.id })
    runtime.crash(p.id)
    await expect.poll(async () => (await supervisor.status(c.id)).state).toBe('TERMINATED')
    const failed = await supervisor.status(p.id)
    expect(failed.state).toBe('FAILED')
    expect(failed.reason).toBe('AGENT_CRASHED: exited with code 3')
    await expect(supervisor.execute(p.id, 1)).rejects.toMatchObject({ code: 'AGENT_STATE_INVALID' })
    const again = await supervisor.restart(p.id)
    expect(again.state).toBe('RUNNING')
    expect((await store.listAgentTransitions(p.id)).map((t) => t.to)).toEqual([
      'PENDING',
      'RUNNING',
      'FAILED',
      'PENDING',
      'RUNNING',
    ])
  })

  it('scales within the parent and not below a child; reset goes back to the spec', async () => {
    const p = await deployParent()
    await supervisor.deploy({ name: 'c', module: '/x/agent.mjs', limits: { memoryMb: 128 } }, { parentId: p.id })
    expect((await supervisor.scale(p.id, { memoryMb: 512, cpuMs: 10_000 })).limits).toEqual({
      memoryMb: 512,
      cpuMs: 10_000,
    })
    await expect(supervisor.scale(p.id, { memoryMb: 64 })).rejects.toMatchObject({ code: 'RESOURCE_LIMIT_EXCEEDED' })
    await expect(supervisor.scale(p.id, { memoryMb: -1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    expect((await supervisor.resetLimits(p.id)).limits).toEqual({ memoryMb: 256, cpuMs: 10_000 })
  })

  it('reports usage per agent and cluster-wide, with command metrics', async () => {
    const a = await deployParent()
    await supervisor.execute(a.id, 1)
    await expect(supervisor.execute(a.id, 'boom')).rejects.toThrow('boom')
    const u = await supervisor.usage(a.id)
    expect(u).toMatchObject({ memoryBytes: 1000, cpuMs: 7, storageBytes: 3 })
    expect(u.metrics).toMatchObject({ calls: 2, errors: 1 })
    await supervisor.deploy({ name: 'b', module: '/x/agent.mjs' })
    const cluster = await supervisor.clusterUsage()
    expect(cluster).toMatchObject({ agents: 2, memoryBytes: 2000, cpuMs: 14, commands: 2, errors: 1 })
    expect(cluster.byState.RUNNING).toBe(2)
  })

  it('refuses bad input with typed errors', async () => {
    await expect(supervisor.deploy({ name: 'bad name!', module: '/x/a.mjs' })).rejects.toMatchObject({
      code: 'AGENT_SPEC_INVALID',
    })
    await expect(supervisor.deploy({ name: 'x', module: '/x/a.mjs', runtime: 'nope' })).rejects.toMatchObject({
      code: 'AGENT_SPEC_INVALID',
    })
    await expect(
      supervisor.deploy({ name: 'x', module: '/x/a.mjs' }, { parentId: 'agt_missing' }),
    ).rejects.toMatchObject({ code: 'AGENT_NOT_FOUND' })
    await expect(supervisor.status('agt_missing')).rejects.toMatchObject({ code: 'AGENT_NOT_FOUND' })
    await expect(
      supervisor.deploy({ name: 'x', module: '/x/a.mjs', permissions: [{ resource: '', actions: [] }] }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    expect(await store.listAgents()).toEqual([])
  })
})
