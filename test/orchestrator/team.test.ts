import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { BusEvent } from '../../src/messaging/bus.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'

describe('agents talking through the orchestrator (ctx.send, request, publish, artifacts, cache)', () => {
  let o: Orchestrator
  let root: string

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-team-'))
    o = new Orchestrator({ store: 'memory', runtimes: [new InProcessRuntime()], workspaceRoot: root })
  })
  afterEach(async () => {
    await o.close()
    await rm(root, { recursive: true, force: true })
  })

  it('a task consults a registered peer by request/reply (the peer runs as a one-task run)', async () => {
    await o.register(
      defineAgent({
        name: 'specialist',
        handler: (q: { claim: string }) => ({ verdict: q.claim.length > 3 ? 'plausible' : 'weak' }),
      }),
    )
    await o.register(
      defineAgent({
        name: 'analyst',
        permissions: [{ resource: 'agent:specialist', actions: ['request'] }],
        handler: async (claim: string, ctx) => ctx.request('specialist', { claim }, { timeoutMs: 5000 }),
      }),
    )
    const result = await o.run(workflow('ask').task('a', { agent: 'analyst', input: 'cats purr' }).build())
    expect(result.output('a')).toEqual({ verdict: 'plausible' })
  })

  it('a request to an unknown agent is refused with AGENT_NOT_FOUND', async () => {
    await o.register(
      defineAgent({
        name: 'lonely',
        permissions: [{ resource: 'agent:*', actions: ['send'] }],
        handler: async (_: unknown, ctx) => ctx.send('nobody', 1),
      }),
    )
    const result = await o.run(
      workflow('x')
        .task('a', { agent: 'lonely', input: null, retry: { maxAttempts: 1 } })
        .build(),
    )
    expect(result.tasks.a?.error?.code).toBe('AGENT_NOT_FOUND')
  })

  it('messages go into durable mailboxes; the receiver leases and acknowledges them', async () => {
    await o.register(
      defineAgent({
        name: 'sender',
        permissions: [{ resource: 'agent:receiver', actions: ['send'] }],
        handler: async (n: number, ctx) =>
          Promise.all(Array.from({ length: n }, (_, i) => ctx.send('receiver', { i }))),
      }),
    )
    await o.register(
      defineAgent({
        name: 'receiver',
        handler: async (_: unknown, ctx) => {
          const got = await ctx.receive({ max: 10 })
          for (const m of got) await ctx.ack(m.id)
          return got.map((m) => [m.from, (m.body as { i: number }).i])
        },
      }),
    )
    const wf = workflow('mail')
      .task('s', { agent: 'sender', input: 3 })
      .task('r', { agent: 'receiver', input: null, dependsOn: ['s'] })
      .build()
    const result = await o.run(wf)
    expect(result.output('r')).toEqual([
      ['sender', 0],
      ['sender', 1],
      ['sender', 2],
    ])
    expect(await o.bus.receive('receiver')).toEqual([])
  })

  it('broadcast reaches a list, or every agent matching a role, capability or tag (never the sender itself by match)', async () => {
    const noop = (name: string, extra: { capabilities?: string[]; tags?: string[] } = {}) =>
      defineAgent({ name, handler: () => null, ...extra })
    await o.register(noop('reviewer-a', { capabilities: ['review'], tags: ['senior'] }))
    await o.register(noop('reviewer-b', { capabilities: ['review'] }))
    await o.register(noop('writer', { tags: ['senior'] }))
    await o.register(
      defineAgent({
        name: 'lead',
        capabilities: ['review'],
        permissions: [{ resource: 'agent:*', actions: ['send'] }],
        handler: async (_: unknown, ctx) => ({
          byCapability: (await ctx.broadcast({ match: { capability: 'review' } }, 'please review')).length,
          byTag: (await ctx.broadcast({ match: { tag: 'senior' } }, 'fyi')).length,
          byRole: (await ctx.broadcast({ match: { role: 'writer' } }, 'draft?')).length,
          list: (await ctx.broadcast({ agents: ['writer', 'reviewer-b'] }, 'both')).length,
          none: await ctx.broadcast({ match: {} }, 'x').catch((e: { code: string }) => e.code),
          unknown: await ctx.broadcast({ agents: ['writer', 'ghost'] }, 'x').catch((e: { code: string }) => e.code),
        }),
      }),
    )
    const result = await o.run(workflow('b').task('l', { agent: 'lead', input: null }).build())
    expect(result.output('l')).toEqual({
      byCapability: 2,
      byTag: 2,
      byRole: 1,
      list: 2,
      none: 'VALIDATION_FAILED',
      unknown: 'AGENT_NOT_FOUND',
    })
    const bodies = async (name: string) => (await o.bus.receive(name, { max: 10 })).map((m) => m.body)
    expect(await bodies('reviewer-a')).toEqual(['please review', 'fyi'])
    expect(await bodies('reviewer-b')).toEqual(['please review', 'both'])
    expect(await bodies('writer')).toEqual(['fyi', 'draft?', 'both']) // all or none: the failed broadcast to ghost delivered nothing
    expect(await bodies('lead')).toEqual([])
  })

  it('events published by one agent reach subscribers with filters', async () => {
    const seen: BusEvent[] = []
    await o.bus.subscribe('finding', { where: { topic: 'cats' } }, (e) => void seen.push(e))
    await o.register(
      defineAgent({
        name: 'researcher',
        permissions: [{ resource: 'event:finding', actions: ['publish'] }],
        handler: async (topics: string[], ctx) => Promise.all(topics.map((topic) => ctx.publish('finding', { topic }))),
      }),
    )
    await o.run(
      workflow('pub')
        .task('r', { agent: 'researcher', input: ['cats', 'dogs', 'cats'] })
        .build(),
    )
    expect(seen.map((e) => [e.from, (e.data as { topic: string }).topic])).toEqual([
      ['researcher', 'cats'],
      ['researcher', 'cats'],
    ])
  })

  it('artifacts carry lineage (agent, run, task) and a stale write is a typed conflict', async () => {
    await o.register(
      defineAgent({
        name: 'editor',
        permissions: [
          { resource: 'artifact:doc', actions: ['write'] },
          { resource: 'cache:last', actions: ['read', 'write'] },
        ],
        handler: async (text: string, ctx) => {
          const v1 = await ctx.artifacts.put('doc', { text }, { basedOn: null })
          const v2 = await ctx.artifacts.put('doc', { text: text + '!' }, { basedOn: v1.version })
          const stale = await ctx.artifacts
            .put('doc', { text: 'lost' }, { basedOn: v1.version })
            .catch((e: { code: string }) => e.code)
          await ctx.cache.share('last', v2.version, { ttlMs: 60_000 })
          return { stale, cached: await ctx.cache.get('last') }
        },
      }),
    )
    const result = await o.run(workflow('edit').task('e', { agent: 'editor', input: 'hi' }).build())
    expect(result.output('e')).toEqual({ stale: 'ARTIFACT_CONFLICT', cached: 2 })
    const history = await o.context.as('operator').history('doc')
    expect(history.map((h) => [h.version, h.createdBy, h.basedOn, h.runId, h.taskId])).toEqual([
      [1, 'editor', null, result.runId, 'e'],
      [2, 'editor', 1, result.runId, 'e'],
    ])
  })

  it('publishes run and task events on the bus when busEvents is set', async () => {
    const o2 = new Orchestrator({
      store: 'memory',
      busEvents: true,
      runtimes: [new InProcessRuntime()],
      workspaceRoot: root,
    })
    try {
      const types: string[] = []
      await o2.bus.subscribe('*', { from: 'orchestrator' }, (e) => void types.push(e.type))
      await o2.register(defineAgent({ name: 'one', handler: () => 1 }))
      await o2.run(workflow('w').task('a', { agent: 'one', input: null }).build())
      expect(types).toContain('run.started')
      expect(types).toContain('task.succeeded')
      expect(types).toContain('run.succeeded')
    } finally {
      await o2.close()
    }
  })
})
