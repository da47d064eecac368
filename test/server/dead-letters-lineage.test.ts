import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { pageOf } from '../../src/server/routes/dead-letters.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'
import { AGENT_MODULES, AGENT_WORKSPACE } from '../helpers/api-samples.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

/**
 * Dead letters and artifact lineage over real HTTP: a server governing
 * agents (so it has their mailboxes) lists the dead letters of a mailbox and
 * replays one (role-checked, audited, typed errors); `GET /lineage` joins
 * the versions a run's tasks wrote with the run's dependency graph.
 */

type Json = Record<string, unknown> & { error?: { code: string; message: string } }

interface DeadLetterPage {
  deadLetters: { id: string; to: string; body: unknown; attempt: number; deadAt: number; reason: string }[]
  nextCursor: string | null
  mailboxes: boolean
}

interface Lineage {
  nodes: {
    id: string
    kind: string
    agent: string | null
    workflow: string | null
    artifact: { version: number } | null
  }[]
  edges: { from: string; to: string; kind: string }[]
  truncated: boolean
}

describe('dead letters and lineage over HTTP', () => {
  let backend: Backend
  let server: RunningServer
  let bare: RunningServer
  let worker: Worker
  const keys = { admin: '', operator: '', analyst: '', guest: '' }

  const call = async (base: string, method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, json: (await res.json()) as Json }
  }
  const api = (method: string, path: string, key: string, body?: unknown) => call(server.url, method, path, key, body)

  /** Leaves `n` messages to `agent` unacknowledged until the bus dead-letters them (5 deliveries by default). */
  async function deadLetter(agent: string, n: number): Promise<string[]> {
    const bus = server.deps.bus
    if (bus === undefined) throw new Error('the server has no bus')
    const ids: string[] = []
    for (let i = 0; i < n; i++) ids.push(await bus.send(agent, { n: i }, { from: 'test' }))
    for (let round = 0; round < 5; round++) {
      await bus.receive(agent, { max: 100, visibilityTimeoutMs: 1 })
      await new Promise((r) => setTimeout(r, 5))
    }
    return ids
  }

  beforeAll(async () => {
    backend = await openBackend('memory')
    const workflows = new WorkflowCatalog()
    workflows.add(
      workflow('report')
        .task('gather', { agent: 'writer', input: { id: 'notes', text: 'raw' } })
        .task('think', { agent: 'thinker', dependsOn: ['gather'], input: 1 })
        .task('write', { agent: 'writer', dependsOn: ['think'], input: { id: 'report', text: 'done' } })
        .task('polish', { agent: 'writer', dependsOn: ['write'], input: { id: 'report', text: 'done!' } })
        .build(),
    )
    server = await startServer({
      backend,
      port: 0,
      workflows,
      onAdminKey: (k) => (keys.admin = k),
      agents: { modules: AGENT_MODULES, workspaceRoot: AGENT_WORKSPACE, runtimes: [new InProcessRuntime()] },
    })
    bare = await startServer({ backend, port: 0 })
    for (const role of ['operator', 'analyst', 'guest'] as const)
      keys[role] = (await api('POST', '/security/keys', keys.admin, { name: role, role: role.toUpperCase() })).json
        .key as string
    worker = new Worker({ backend })
    await worker.register(
      defineAgent({
        name: 'writer',
        permissions: [{ resource: 'artifact:**', actions: ['read', 'write'] }],
        handler: async (input: { id: string; text: string }, ctx) =>
          (await ctx.artifacts.put(input.id, { text: input.text })).version,
      }),
    )
    await worker.register(defineAgent({ name: 'thinker', handler: (x: number) => x + 1 }))
    await worker.start()
  }, 30_000)

  afterAll(async () => {
    await worker?.stop()
    await bare?.close()
    await server?.close()
    await backend?.close()
  })

  it('lists the dead letters of a mailbox, pages through them, and replays one back to the mailbox', async () => {
    const deployed = await api('POST', '/deployed-agents', keys.operator, {
      spec: { name: 'mailbox', module: 'mailbox.mjs' },
      runtime: 'inprocess',
    })
    expect(deployed.status, JSON.stringify(deployed.json)).toBe(201)
    const ids = await deadLetter('mailbox', 3)

    const first = await api('GET', '/agents/mailbox/dead-letters?limit=2', keys.analyst)
    expect(first.status).toBe(200)
    const p1 = first.json as unknown as DeadLetterPage
    expect(p1.mailboxes).toBe(true)
    expect(p1.deadLetters).toHaveLength(2)
    expect(p1.deadLetters[0]).toMatchObject({ to: 'mailbox', attempt: 5 })
    expect(p1.deadLetters[0]?.reason).toContain('5')
    expect(p1.nextCursor).not.toBeNull()
    const p2 = (
      await api(
        'GET',
        `/agents/mailbox/dead-letters?limit=2&cursor=${encodeURIComponent(p1.nextCursor ?? '')}`,
        keys.analyst,
      )
    ).json as unknown as DeadLetterPage
    expect(p2.nextCursor).toBeNull()
    expect([...p1.deadLetters, ...p2.deadLetters].map((d) => d.id).sort()).toEqual([...ids].sort())

    // every mailbox: the deployed agent's is among them
    const all = (await api('GET', '/dead-letters', keys.analyst)).json as unknown as DeadLetterPage
    expect(all.deadLetters.map((d) => d.id).sort()).toEqual([...ids].sort())

    // replay: the message is in the mailbox again, attempts reset, and the call is audited
    const target = ids[1] as string
    const replayed = await api('POST', `/agents/mailbox/dead-letters/${target}/replay`, keys.operator)
    expect(replayed.status, JSON.stringify(replayed.json)).toBe(200)
    expect(replayed.json).toEqual({ id: target, agent: 'mailbox', replayed: true })
    const left = (await api('GET', '/agents/mailbox/dead-letters', keys.analyst)).json as unknown as DeadLetterPage
    expect(left.deadLetters.map((d) => d.id)).not.toContain(target)
    expect(left.deadLetters).toHaveLength(2)
    const [again] = (await server.deps.bus?.receive('mailbox', { max: 10 })) ?? []
    expect(again).toMatchObject({ id: target, attempt: 1, body: { n: 1 } })
    const audit = await api('GET', '/security/audit?action=agent.dead-letter.replay', keys.admin)
    expect(audit.json.entries).toEqual([
      expect.objectContaining({
        resource: 'agent:mailbox',
        outcome: 'succeeded',
        details: expect.objectContaining({ message: target }),
      }),
    ])

    // typed errors: replayed already; not allowed (ANALYST reads, may not send); GUEST may not read
    const twice = await api('POST', `/agents/mailbox/dead-letters/${target}/replay`, keys.operator)
    expect(twice.status).toBe(404)
    expect(twice.json.error?.code).toBe('DEAD_LETTER_NOT_FOUND')
    const analyst = await api('POST', `/agents/mailbox/dead-letters/${ids[0]}/replay`, keys.analyst)
    expect(analyst.status).toBe(403)
    expect(analyst.json.error?.code).toBe('PERMISSION_DENIED')
    expect((await api('GET', '/agents/mailbox/dead-letters', keys.analyst)).json.deadLetters).toHaveLength(2)
    expect((await api('GET', '/dead-letters', keys.guest)).json.error?.code).toBe('PERMISSION_DENIED')
    const bad = await api('GET', '/dead-letters?cursor=nope', keys.analyst)
    expect(bad.json.error?.code).toBe('VALIDATION_FAILED')
  })

  it('a server without mailboxes says so, and cannot replay', async () => {
    const list = await call(bare.url, 'GET', '/dead-letters', keys.admin)
    expect(list.json).toEqual({ deadLetters: [], nextCursor: null, mailboxes: false })
    const replay = await call(bare.url, 'POST', '/agents/mailbox/dead-letters/msg_x/replay', keys.admin)
    expect(replay.json.error?.code).toBe('AGENT_HOST_DISABLED')
  })

  it('pages dead letters by (deadAt, id)', () => {
    const d = (id: string, deadAt: number) =>
      ({ id, deadAt, from: 'a', to: 'b', body: null, headers: {}, attempt: 5, sentAt: 0, reason: '' }) as const
    const all = [d('c', 2), d('a', 1), d('b', 2), d('d', 3)]
    const one = pageOf(all, 2, undefined)
    expect(one.deadLetters.map((x) => x.id)).toEqual(['a', 'b'])
    expect(one.nextCursor).toBe('2:b')
    const two = pageOf(all, 2, one.nextCursor ?? undefined)
    expect(two.deadLetters.map((x) => x.id)).toEqual(['c', 'd'])
    expect(two.nextCursor).toBeNull()
  })

  it('draws the lineage of artifacts: versions, the tasks that wrote them, and which writer ran upstream', async () => {
    const started = await api('POST', '/workflows/report/runs', keys.operator, { input: {} })
    expect(started.status, JSON.stringify(started.json)).toBe(201)
    const runId = started.json.id as string
    await expect
      .poll(async () => (await api('GET', `/runs/${runId}`, keys.analyst)).json.state, { timeout: 20_000 })
      .toBe('SUCCEEDED')
    // a key revises the report outside any run
    expect((await api('PUT', '/artifacts/report', keys.operator, { content: { text: 'edited' } })).status).toBe(200)

    const res = await api('GET', `/lineage?run=${runId}`, keys.analyst)
    expect(res.status).toBe(200)
    const g = res.json as unknown as Lineage
    const ids = g.nodes.map((n) => n.id).sort()
    expect(ids).toEqual(
      [
        'artifact:notes@1',
        'artifact:report@1',
        'artifact:report@2',
        'artifact:report@3',
        `task:${runId}/gather`,
        `task:${runId}/polish`,
        `task:${runId}/write`,
      ].sort(),
    )
    const edges = g.edges.map((e) => `${e.kind} ${e.from} -> ${e.to}`).sort()
    expect(edges).toEqual(
      [
        `wrote task:${runId}/gather -> artifact:notes@1`,
        `wrote task:${runId}/write -> artifact:report@1`,
        `wrote task:${runId}/polish -> artifact:report@2`,
        'revised artifact:report@1 -> artifact:report@2',
        'revised artifact:report@2 -> artifact:report@3',
        // "think" wrote nothing: the nearest writer above "write" is "gather"
        `upstream task:${runId}/gather -> task:${runId}/write`,
        `upstream task:${runId}/write -> task:${runId}/polish`,
      ].sort(),
    )
    expect(g.nodes.find((n) => n.id === `task:${runId}/write`)).toMatchObject({ agent: 'writer', workflow: 'report' })
    expect(g.truncated).toBe(false)

    // limits and filters
    const one = (await api('GET', '/lineage?limit=1', keys.analyst)).json as unknown as Lineage
    expect(one.truncated).toBe(true)
    expect(new Set(one.nodes.flatMap((n) => (n.kind === 'artifact' ? [n.id.split('@')[0]] : []))).size).toBe(1)
    const notes = (await api('GET', '/lineage?prefix=notes', keys.analyst)).json as unknown as Lineage
    expect(notes.nodes.filter((n) => n.kind === 'artifact').map((n) => n.id)).toEqual(['artifact:notes@1'])
    expect((await api('GET', '/lineage', keys.guest)).json.error?.code).toBe('PERMISSION_DENIED')
  }, 40_000)
})

// On PostgreSQL the bus is shared: a server that governs no agents lists and
// replays the dead letters of an agent another server deployed.
await describePostgres('dead letters on a shared PostgreSQL bus', () => {
  it('are listed and replayed by a server that does not hold the agent', async () => {
    await withFreshSchema(async (url) => {
      const a = await openBackend(url)
      const b = await openBackend(url)
      const dir = mkdtempSync(join(tmpdir(), 'flotilla-pg-dead-'))
      let admin = ''
      const holder = await startServer({
        backend: a,
        port: 0,
        onAdminKey: (k) => (admin = k),
        agents: { modules: AGENT_MODULES, workspaceRoot: dir, runtimes: [new InProcessRuntime()] },
      })
      const other = await startServer({ backend: b, port: 0 })
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${other.url}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        return { status: res.status, json: (await res.json()) as Record<string, unknown> }
      }
      try {
        const deployed = await fetch(`${holder.url}/api/v1/deployed-agents`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ spec: { name: 'pg-inbox', module: 'mailbox.mjs' } }),
        })
        expect(deployed.status).toBe(201)
        const bus = b.bus
        if (bus === undefined) throw new Error('a PostgreSQL backend has a bus')
        const id = await bus.send('pg-inbox', { via: 'postgres' }, { from: 'test' })
        for (let i = 0; i < 5; i++) {
          await bus.receive('pg-inbox', { visibilityTimeoutMs: 1 })
          await new Promise((r) => setTimeout(r, 20))
        }
        const listed = await call('GET', '/dead-letters')
        expect(listed.json).toMatchObject({ mailboxes: true, nextCursor: null })
        expect((listed.json.deadLetters as { id: string; to: string }[]).map((d) => [d.id, d.to])).toEqual([
          [id, 'pg-inbox'],
        ])
        const replayed = await call('POST', `/agents/pg-inbox/dead-letters/${id}/replay`, {})
        expect(replayed.status, JSON.stringify(replayed.json)).toBe(200)
        expect((await call('GET', '/agents/pg-inbox/dead-letters')).json.deadLetters).toEqual([])
        expect(await a.bus?.receive('pg-inbox')).toEqual([expect.objectContaining({ id, attempt: 1 })])
      } finally {
        await other.close()
        await holder.close()
        await a.close()
        await b.close()
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }, 60_000)
})
