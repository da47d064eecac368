import { asAgentId } from '../../src/core/ids.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { BusEvent } from '../../src/messaging/bus.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { workflow } from '../../src/workflows/builder.js'
import { ROOT } from '../cli/run-cli.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

const MODULE = join(ROOT, 'test/fixtures/team/tree-agents.mjs')
const ALL = [{ resource: '**', actions: ['*'] }]

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('orchestrator.agents on the process runtime', () => {
  let o: Orchestrator
  let root: string
  const events: BusEvent[] = []

  beforeAll(() => ensureFreshBuild(), 120_000)
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-deployed-'))
    o = new Orchestrator({
      store: 'memory',
      runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY }), new InProcessRuntime()],
      workspaceRoot: root,
    })
    events.length = 0
    await o.bus.subscribe('*', undefined, (e) => void events.push(e))
  })
  afterEach(async () => {
    await o.close()
    await rm(root, { recursive: true, force: true })
  })

  const deployParent = (permissions: unknown = ALL) =>
    o.agents.deploy({ name: 'parent', module: MODULE, export: 'parent', runtime: 'process', permissions })

  it('a workflow task targets a process agent by name, exactly like an in-process one', async () => {
    const p = await deployParent()
    expect(p.runtime).toBe('process')
    const result = await o.run(
      workflow('w')
        .task('a', { agent: 'parent', input: { x: 1 } })
        .task('b', { agent: 'parent', input: { y: 2 }, dependsOn: ['a'] })
        .build(),
    )
    expect(result.ok).toBe(true)
    expect(result.output('a')).toEqual({ echo: { x: 1 } })
    expect(result.output('b')).toEqual({ echo: { y: 2 } })
    const status = events.filter((e) => e.type === 'status_change').map((e) => (e.data as { to: string }).to)
    expect(status).toEqual(['PENDING', 'RUNNING'])
    // artifacts a process agent writes in a workflow task carry the run and task as lineage
    const wrote = await o.run(
      workflow('w2')
        .task('put', { agent: 'parent', input: { op: 'artifact', id: 'notes', content: { n: 1 } } })
        .build(),
    )
    const [v1] = await o.context.as('operator').history('notes')
    expect([v1.createdBy, v1.runId, v1.taskId]).toEqual(['parent', wrote.runId, 'put'])
  })

  it('children spawned from the context form a tree; broadcast reaches them; killing the parent fails it and cleans up its subtree', async () => {
    const p = await deployParent()
    const kids = (await o.agents.execute(p.id, { op: 'spawn', names: ['kid-a', 'kid-b'] })) as {
      id: string
      name: string
    }[]
    const tree = await o.agents.tree(p.id)
    expect(tree.children.map((c) => c.name).sort()).toEqual(['kid-a', 'kid-b'])
    const ids = await o.agents.execute(p.id, { op: 'broadcast', body: { hello: 'kids' } })
    expect(ids).toHaveLength(2)
    expect(await o.agents.execute(kids[0].id, { op: 'receive' })).toEqual([{ from: 'parent', body: { hello: 'kids' } }])

    const parentPid = (await o.agents.execute(p.id, { op: 'pid' })) as number
    const kidPids = await Promise.all(kids.map((k) => o.agents.execute(k.id, { op: 'pid' }) as Promise<number>))
    process.kill(parentPid, 'SIGKILL')
    await expect.poll(async () => (await o.agents.status(p.id)).state, { timeout: 5000 }).toBe('FAILED')
    expect((await o.agents.status(p.id)).reason).toMatch(/AGENT_CRASHED: .*SIGKILL/)
    for (const k of kids) {
      await expect.poll(async () => (await o.agents.status(k.id)).state, { timeout: 5000 }).toBe('TERMINATED')
      expect((await o.agents.status(k.id)).reason).toBe(`parent ${p.id} failed`)
    }
    for (const pid of kidPids) await expect.poll(() => alive(pid), { timeout: 5000 }).toBe(false)
    expect(events.some((e) => e.type === 'error' && (e.data as { agentId: string }).agentId === p.id)).toBe(true)
  })

  it('a child asking for more than its parent holds gets PERMISSION_ESCALATION, through the context too', async () => {
    const p = await deployParent([{ resource: 'file:data/**', actions: ['read'] }])
    await expect(
      o.agents.execute(p.id, {
        op: 'spawn',
        names: ['greedy'],
        permissions: [{ resource: 'file:**', actions: ['write'] }],
      }),
    ).rejects.toMatchObject({ code: 'PERMISSION_ESCALATION' })
    await expect(
      o.agents.deploy(
        {
          name: 'greedy2',
          module: MODULE,
          export: 'child',
          permissions: [{ resource: 'file:data/**', actions: ['write'] }],
        },
        { parentId: p.id },
      ),
    ).rejects.toMatchObject({ code: 'PERMISSION_ESCALATION' })
    expect(await o.agents.children(p.id)).toEqual([])
  })

  it('context access without permission is PERMISSION_DENIED and a permission.denied event', async () => {
    const p = await deployParent([{ resource: 'agent:*', actions: ['send'] }])
    await expect(o.agents.execute(p.id, { op: 'artifact', id: 'secret', content: 1 })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    })
    const denied = events.find((e) => e.type === 'permission.denied')
    expect(denied?.from).toBe('parent')
    expect(denied?.data).toMatchObject({ resource: 'artifact:secret', action: 'write' })
  })

  it('messages to a terminated agent are refused with AGENT_TERMINATED; commands too', async () => {
    const p = await deployParent()
    const [kid] = (await o.agents.execute(p.id, { op: 'spawn', names: ['kid-x'] })) as { id: string }[]
    await o.agents.terminate(kid.id)
    await expect(o.agents.execute(p.id, { op: 'send', to: 'kid-x', body: 1 })).rejects.toMatchObject({
      code: 'AGENT_TERMINATED',
    })
    await expect(o.agents.execute(kid.id, { op: 'pid' })).rejects.toMatchObject({ code: 'AGENT_TERMINATED' })
    await expect(o.agents.execute(p.id, { op: 'send', to: 'nobody', body: 1 })).rejects.toMatchObject({
      code: 'AGENT_NOT_FOUND',
    })
  })

  it('terminating the root terminates the whole tree, children first, and stores every transition', async () => {
    const p = await deployParent()
    const [kid] = (await o.agents.execute(p.id, { op: 'spawn', names: ['kid'] })) as { id: string }[]
    const grandkid = (await o.agents.execute(kid.id, { op: 'spawn', name: 'grandkid' })) as string
    await o.agents.terminate(p.id)
    const order = events
      .filter((e) => e.type === 'status_change' && (e.data as { to: string }).to === 'TERMINATED')
      .map((e) => (e.data as { agentId: string }).agentId)
    expect(order).toEqual([grandkid, kid.id, p.id])
    const transitions = await o.store.listAgentTransitions(asAgentId(p.id))
    expect(transitions.map((t) => t.to)).toEqual(['PENDING', 'RUNNING', 'TERMINATED'])
    expect((await o.agents.list()).every((a) => a.state === 'TERMINATED')).toBe(true)
  })
})
