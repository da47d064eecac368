import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineAgentTemplate } from '../../src/agents/agent-template.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'

const echo = defineAgent({ name: 'echo', handler: (x: unknown) => ({ echoed: x }) })
const hello = workflow('hello')
  .task('a', { agent: 'echo', input: { $ref: 'input.name' } as never })
  .build()

describe('HTTP API', () => {
  let backend: Backend
  let server: RunningServer
  let admin: string
  let worker: Worker | undefined
  beforeEach(async () => {
    backend = await openBackend('memory')
    const workflows = new WorkflowCatalog()
    workflows.add(workflow('greet').task('a', { agent: 'echo', input: 'hi' }).build())
    server = await startServer({ backend, port: 0, workflows, onAdminKey: (k) => (admin = k) })
  })
  afterEach(async () => {
    await worker?.stop()
    worker = undefined
    await server.close()
    await backend.close()
  })

  const call = (path: string, init: RequestInit & { key?: string } = {}) => {
    const headers = new Headers(init.headers)
    if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`)
    if (init.body !== undefined) headers.set('content-type', 'application/json')
    return fetch(`${server.url}/api/v1${path}`, { ...init, headers })
  }

  it('answers health without a key, and 401 AUTH_REQUIRED elsewhere, with a request id', async () => {
    const h = await call('/health')
    expect(h.status).toBe(200)
    expect(h.headers.get('x-request-id')).toMatch(/./)
    const r = await call('/runs', { headers: { 'x-request-id': 'abc-1' } })
    expect(r.status).toBe(401)
    expect(r.headers.get('x-request-id')).toBe('abc-1')
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('AUTH_REQUIRED')
  })

  it('creates a key shown once, starts a named workflow once per Idempotency-Key, and audits it', async () => {
    const created = await call('/security/keys', {
      method: 'POST',
      key: admin,
      body: JSON.stringify({ name: 'ci', role: 'SERVICE' }),
    })
    expect(created.status).toBe(201)
    const { key, info } = (await created.json()) as { key: string; info: { id: string; role: string } }
    expect(info.role).toBe('SERVICE')
    const listed = await (await call('/security/keys', { key: admin })).json()
    expect(JSON.stringify(listed)).not.toContain(key.split('_').slice(2).join('_'))

    const start = () =>
      call('/workflows/greet/runs', { method: 'POST', key, headers: { 'idempotency-key': 'job-7' }, body: '{}' })
    const first = await start()
    expect(first.status).toBe(201)
    const run = (await first.json()) as { id: string; state: string }
    const again = await start()
    expect(again.status).toBe(200)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(((await again.json()) as { id: string }).id).toBe(run.id)

    worker = new Worker({ backend })
    await worker.register(echo)
    await worker.start()
    for (let i = 0; i < 200; i++) {
      const r = (await (await call(`/runs/${run.id}`, { key })).json()) as { state: string }
      if (r.state === 'SUCCEEDED') break
      await new Promise((res) => setTimeout(res, 25))
    }
    const tasks = (await (await call(`/runs/${run.id}/tasks`, { key })).json()) as { tasks: { output: unknown }[] }
    const events = (await (await call(`/runs/${run.id}/events`, { key })).json()) as {
      events: { event: { type: string; actor?: string } }[]
    }
    expect(events.events[0]?.event).toMatchObject({ type: 'run.started', actor: `key:${info.id}` })
    expect(tasks.tasks[0]?.output).toEqual({ echoed: 'hi' })

    const audit = (await (await call('/security/audit?action=run.start', { key: admin })).json()) as {
      entries: { actor: string; resource: string }[]
    }
    expect(audit.entries.map((e) => [e.actor, e.resource])).toEqual([
      [`key:${info.id}`, 'workflow:greet'],
      [`key:${info.id}`, 'workflow:greet'],
    ])
    const verify = (await (await call('/security/audit/verify', { method: 'POST', key: admin })).json()) as {
      ok: boolean
    }
    expect(verify.ok).toBe(true)
  })

  it('refuses what a role does not grant with 403 PERMISSION_DENIED, audited as denied', async () => {
    const { key } = (await (
      await call('/security/keys', { method: 'POST', key: admin, body: JSON.stringify({ name: 'g', role: 'GUEST' }) })
    ).json()) as { key: string }
    const r = await call('/runs', { key })
    expect(r.status).toBe(403)
    const body = (await r.json()) as { error: { code: string; details: Record<string, unknown> } }
    expect(body.error.code).toBe('PERMISSION_DENIED')
    expect(body.error.details).toMatchObject({ resource: 'run:*', action: 'read' })
    const denied = (await (await call('/security/audit', { key: admin })).json()) as { entries: { outcome: string }[] }
    expect(denied.entries.some((e) => e.outcome === 'denied')).toBe(true)
  })

  it('answers a bad body with 400 VALIDATION_FAILED naming the field, and a wrong key with 401 AUTH_INVALID', async () => {
    const r = await call('/security/keys', {
      method: 'POST',
      key: admin,
      body: JSON.stringify({ name: 'x', role: 'KING' }),
    })
    expect(r.status).toBe(400)
    const body = (await r.json()) as { error: { code: string; details: { issues: { field: string }[] } } }
    expect(body.error.code).toBe('VALIDATION_FAILED')
    expect(body.error.details.issues[0]?.field).toBe('role')
    const bad = await call('/runs', { key: admin.slice(0, -3) + 'xyz' })
    expect(bad.status).toBe(401)
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('AUTH_INVALID')
  })

  it('serves the OpenAPI 3.1 document and a reference page', async () => {
    const doc = (await (await call('/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> }
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toContain('/api/v1/runs/{id}')
    const page = await (await call('/docs')).text()
    expect(page).toContain('/api/v1/workflows/{name}/runs')
  })

  it('starts an inline workflow with its input', async () => {
    void hello
    const r = await call('/runs', {
      method: 'POST',
      key: admin,
      body: JSON.stringify({ workflow: { name: 'inline', tasks: [{ id: 'a', agent: 'echo', input: 1 }] } }),
    })
    expect(r.status).toBe(201)
    expect(r.headers.get('location')).toMatch(/^\/api\/v1\/runs\//)
  })

  it('writes and reads artifacts with lineage and the cache; a scoped key lists only what it may read', async () => {
    const put = (id: string, body: unknown) =>
      call(`/artifacts/${encodeURIComponent(id)}`, { method: 'PUT', key: admin, body: JSON.stringify(body) })
    expect((await put('reports/weekly', { content: { n: 1 }, basedOn: null })).status).toBe(200)
    expect((await put('reports/weekly', { content: { n: 2 }, basedOn: 1 })).status).toBe(200)
    const stale = await put('reports/weekly', { content: { n: 3 }, basedOn: 1 })
    expect(stale.status).toBe(409)
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe('ARTIFACT_CONFLICT')
    await put('private/notes', { content: 'x' })
    const got = (await (await call('/artifacts/reports%2Fweekly', { key: admin })).json()) as {
      content: unknown
      version: number
    }
    expect(got).toMatchObject({ content: { n: 2 }, version: 2 })
    const hres = await call('/artifacts/reports%2Fweekly/history', { key: admin })
    const history = (await hres.json()) as {
      versions: { version: number; basedOn: number | null; createdBy: string }[]
    }
    expect(history.versions.map((v) => [v.version, v.basedOn])).toEqual([
      [1, null],
      [2, 1],
    ])
    expect(history.versions[0]?.createdBy).toMatch(/^key:/)
    const { key: scoped } = (await (
      await call('/security/keys', {
        method: 'POST',
        key: admin,
        body: JSON.stringify({
          name: 'r',
          role: 'ANALYST',
          scopes: [{ resource: 'artifact:*', actions: ['read'] }],
        }),
      })
    ).json()) as { key: string }
    await put('top', { content: 1 })
    // artifact:* covers ids of one segment: the list leaves out the others
    const lres = await call('/artifacts', { key: scoped })
    const listed = (await lres.json()) as { artifacts: { id: string }[] }
    expect(listed, JSON.stringify(listed)).toHaveProperty('artifacts')
    expect(listed.artifacts.map((a) => a.id)).toEqual(['top'])
    expect((await call('/artifacts/private%2Fnotes', { key: scoped })).status).toBe(403)
    const cached = await call('/cache/doc%3Alatest', {
      method: 'PUT',
      key: admin,
      body: JSON.stringify({ value: 7, ttlMs: 60_000 }),
    })
    expect(cached.status).toBe(200)
    expect(await (await call('/cache/doc%3Alatest', { key: admin })).json()).toEqual({ key: 'doc:latest', value: 7 })
  })

  it('lists the agents live workers offer', async () => {
    worker = new Worker({ backend })
    await worker.register(echo)
    await worker.start()
    const agents = (await (await call('/agents', { key: admin })).json()) as {
      agents: { name: string; versions: string[] }[]
    }
    expect(agents.agents.find((a) => a.name === 'echo')).toMatchObject({ versions: ['1.0.0'] })
    expect((await call('/agents/ghost', { key: admin })).status).toBe(404)
  })

  it('lists the agent templates live workers hold, with model, tools and permissions', async () => {
    worker = new Worker({ backend })
    await worker.register(echo)
    await worker.registry.templates.register(
      defineAgentTemplate({
        name: 'analyst',
        version: '1.2.0',
        model: 'openai:gpt-4.1-mini',
        permissions: [{ resource: 'artifact:reports/*', actions: ['read'] }],
      }),
    )
    await worker.start()
    const { templates } = (await (await call('/agent-templates', { key: admin })).json()) as {
      templates: Record<string, unknown>[]
    }
    expect(templates).toEqual([
      {
        name: 'analyst',
        version: '1.2.0',
        description: null,
        model: 'openai:gpt-4.1-mini',
        tools: [],
        permissions: [{ resource: 'artifact:reports/*', actions: ['read'] }],
        generic: false,
        workers: [worker.id],
      },
    ])
    expect((await call('/agent-templates')).status).toBe(401)
  })

  it('replays a finished run with a changed input for one task, keeping the other results', async () => {
    worker = new Worker({ backend })
    await worker.register(echo)
    await worker.start()
    const start = await call('/runs', {
      method: 'POST',
      key: admin,
      body: JSON.stringify({
        workflow: {
          name: 'two',
          tasks: [
            { id: 'a', agent: 'echo', input: 'first' },
            { id: 'b', agent: 'echo', input: 'second', dependsOn: ['a'] },
          ],
        },
      }),
    })
    const { id } = (await start.json()) as { id: string }
    const waitFor = async (runId: string) => {
      for (let i = 0; i < 200; i++) {
        const r = (await (await call(`/runs/${runId}`, { key: admin })).json()) as { state: string }
        if (r.state === 'SUCCEEDED' || r.state === 'FAILED') return r.state
        await new Promise((res) => setTimeout(res, 25))
      }
      return 'TIMEOUT'
    }
    expect(await waitFor(id)).toBe('SUCCEEDED')
    const replay = await call(`/runs/${id}/replay`, {
      method: 'POST',
      key: admin,
      body: JSON.stringify({ set: { b: { input: 'changed' } } }),
    })
    expect(replay.status).toBe(201)
    const next = (await replay.json()) as { id: string; parentRunId: string }
    expect(next.parentRunId).toBe(id)
    expect(await waitFor(next.id)).toBe('SUCCEEDED')
    const tasks = (await (await call(`/runs/${next.id}/tasks`, { key: admin })).json()) as {
      tasks: { taskId: string; output: unknown; attempt: number }[]
    }
    expect(tasks.tasks.map((t) => [t.taskId, t.output])).toEqual([
      ['a', { echoed: 'first' }],
      ['b', { echoed: 'changed' }],
    ])
    const bad = await call(`/runs/${id}/replay`, { method: 'POST', key: admin, body: JSON.stringify({ from: ['zz'] }) })
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED')
  })

  it('returns the summary a worker had a model write of a run, and parentTaskId (null for a run that is no child)', async () => {
    const summaryModel = scriptedModel([{ text: 'Echoed one word.', usage: { inputTokens: 40, outputTokens: 5 } }], {
      repeatLast: true,
    })
    worker = new Worker({ backend, summaryModel })
    await worker.register(echo)
    await worker.start()
    const start = await call('/runs', {
      method: 'POST',
      key: admin,
      body: JSON.stringify({
        workflow: { name: 'one', summary: true, tasks: [{ id: 'a', agent: 'echo', input: 'x' }] },
      }),
    })
    const { id } = (await start.json()) as { id: string }
    type View = {
      state: string
      parentTaskId: string | null
      summary: { text: string; spend: { calls: number } } | null
    }
    let run: View | undefined
    for (let i = 0; i < 400 && run?.summary == null; i++) {
      run = (await (await call(`/runs/${id}`, { key: admin })).json()) as View
      if (run.summary == null) await new Promise((res) => setTimeout(res, 25))
    }
    expect(run).toMatchObject({
      state: 'SUCCEEDED',
      parentTaskId: null,
      summary: { text: 'Echoed one word.', model: 'scripted:script', spend: { calls: 1, inputTokens: 40 } },
    })
  })
})
