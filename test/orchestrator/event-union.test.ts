import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { isRunEvent, type FlotillaEvent } from '../../src/core/events.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { workflow } from '../../src/workflows/builder.js'

const AGENTS = `import { defineAgent } from '${new URL('../../src/index.ts', import.meta.url).href}'
export const reader = defineAgent({ name: 'reader', handler: async (path, ctx) => ctx.workspace.read(path) })
`

// One event stream: orchestrator.on('*') hears runs, tasks, agent lifecycle,
// agent reports, health, anomalies and denials, each in one shape.
describe("orchestrator.on('*')", () => {
  let dir: string
  let o: Orchestrator
  let seen: FlotillaEvent[]
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-events-'))
    await writeFile(join(dir, 'agents.mjs'), AGENTS)
    o = new Orchestrator({ store: 'memory', runtimes: [new InProcessRuntime()], workspaceRoot: join(dir, 'ws') })
    seen = []
    o.on('*', (e) => void seen.push(e))
  })
  afterEach(async () => {
    await o.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('hears the lifecycle of a deployed agent and its denied file read, as agent.state and permission.denied', async () => {
    const agent = await o.agents.deploy({
      name: 'reader',
      module: join(dir, 'agents.mjs'),
      export: 'reader',
      runtime: 'inprocess',
      permissions: [{ resource: 'file:public/**', actions: ['read'] }],
    })
    await expect(o.agents.execute(agent.id, 'secret.txt')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' })
    await o.agents.terminate(agent.id)
    const states = seen.filter((e) => e.type === 'agent.state').map((e) => (e.type === 'agent.state' ? e.to : ''))
    expect(states).toEqual(expect.arrayContaining(['RUNNING', 'TERMINATED']))
    const denied = seen.find((e) => e.type === 'permission.denied')
    expect(denied).toMatchObject({ agent: 'reader', agentId: agent.id, resource: 'file:secret.txt', action: 'read' })
    expect(seen.every((e) => typeof e.at === 'number')).toBe(true)
  })

  it('hears a registered agent’s denial with its run and task, beside the run’s own events', async () => {
    await o.register(
      defineAgent({
        name: 'nosy',
        handler: async (_: unknown, ctx) =>
          ctx.artifacts.get('secrets').then(
            () => 'read',
            (e: { code: string }) => e.code,
          ),
      }),
    )
    const result = await o.run(workflow('w').task('t', { agent: 'nosy', input: null }).build())
    expect(result.output('t')).toBe('PERMISSION_DENIED')
    const denied = seen.find((e) => e.type === 'permission.denied')
    expect(denied).toMatchObject({
      agent: 'nosy',
      resource: 'artifact:secrets',
      action: 'read',
      runId: result.runId,
      taskId: 't',
    })
    expect(seen.filter(isRunEvent).map((e) => e.type)).toEqual(
      expect.arrayContaining(['run.started', 'task.succeeded', 'run.succeeded']),
    )
    expect(isRunEvent(denied!)).toBe(false)
  })

  it('tells every team event type from the run events', () => {
    const at = new Date(0).toISOString()
    const team = [
      'agent.state',
      'agent.reported',
      'agent.health',
      'agent.anomaly',
      'agent.scaled',
      'permission.denied',
      'alert.raised',
      'alert.resolved',
    ]
    for (const type of team) expect(isRunEvent({ type, at } as unknown as FlotillaEvent), type).toBe(false)
    expect(isRunEvent({ type: 'run.started', at, runId: 'r' } as unknown as FlotillaEvent)).toBe(true)
  })

  it('hears health transitions of registered agents', async () => {
    let healthy = true
    await o.register(defineAgent({ name: 'flaky', handler: () => 1, healthCheck: () => healthy }))
    healthy = false
    await o.healthCheckAll()
    const health = seen.filter((e) => e.type === 'agent.health')
    expect(health.length).toBeGreaterThan(0)
    expect(health.at(-1)).toMatchObject({ agent: 'flaky', to: expect.any(String) })
  })
})

describe('actor on control events', () => {
  it('pause, resume and cancel of a live run, and its start, carry the actor given', async () => {
    const o = new Orchestrator({ store: 'memory' })
    try {
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      await o.register(defineAgent({ name: 'slow', handler: async () => gate.then(() => 1) }))
      const events: FlotillaEvent[] = []
      o.on('*', (e) => void events.push(e))
      const handle = o.start(
        workflow('w')
          .task('a', { agent: 'slow' })
          .task('b', { agent: 'slow', dependsOn: ['a'] })
          .build(),
        undefined,
        { actor: 'key:abc' },
      )
      await new Promise((r) => setTimeout(r, 20))
      await o.pause(handle.id, { actor: 'cli' })
      await o.resume(handle.id, { actor: 'key:ops' })
      await o.cancel(handle.id, 'enough', { actor: 'key:boss' })
      release()
      await handle.result
      const actors = events
        .filter((e) => ['run.started', 'run.paused', 'run.resumed', 'run.cancelled'].includes(e.type))
        .map((e) => [e.type, e.actor])
      expect(actors).toEqual([
        ['run.started', 'key:abc'],
        ['run.paused', 'cli'],
        ['run.resumed', 'key:ops'],
        ['run.cancelled', 'key:boss'],
      ])
    } finally {
      await o.close()
    }
  })
})
