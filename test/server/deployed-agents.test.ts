import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { AgentSupervisor } from '../../src/runtimes/supervisor.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { runCli } from '../cli/run-cli.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'

/**
 * Deployed agents over real HTTP: a `process` agent deployed through the API
 * runs as a real child process; every control call is audited; an agent held
 * by another process answers the typed AGENT_NOT_HELD.
 */

const MODULES = resolve(import.meta.dirname, '../fixtures/server-agents')
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

type Json = Record<string, unknown> & { error?: { code: string; message: string; details: Record<string, unknown> } }

describe('deployed agents over HTTP', () => {
  let dir: string
  let backend: Backend
  let server: RunningServer
  let bare: RunningServer
  let admin = ''
  let operator = ''
  let operatorId = ''
  let analyst = ''
  let seq = 0

  const call = async (base: string, method: string, path: string, key: string, body?: unknown) => {
    const requestId = `dep-${++seq}`
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        'x-request-id': requestId,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, json: (await res.json()) as Json, requestId }
  }
  const api = (method: string, path: string, key: string, body?: unknown) => call(server.url, method, path, key, body)

  beforeAll(() => ensureFreshBuild(), 120_000)
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-deployed-'))
    backend = await openBackend(`sqlite:${join(dir, 'f.db')}`)
    server = await startServer({
      backend,
      port: 0,
      onAdminKey: (k) => (admin = k),
      agents: {
        modules: MODULES,
        workspaceRoot: join(dir, 'agents'),
        runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY }), new InProcessRuntime()],
      },
    })
    bare = await startServer({ backend, port: 0 })
    const op = await api('POST', '/security/keys', admin, { name: 'ops', role: 'OPERATOR' })
    operator = op.json.key as string
    operatorId = (op.json.info as { id: string }).id
    analyst = (await api('POST', '/security/keys', admin, { name: 'reader', role: 'ANALYST' })).json.key as string
  }, 30_000)

  afterAll(async () => {
    await bare?.close()
    await server?.close()
    await backend?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('deploys a process agent, commands it, reads it, and governs its lifecycle to the end', async () => {
    const deployed = await api('POST', '/deployed-agents', operator, {
      spec: {
        name: 'mailbox',
        module: 'mailbox.mjs',
        permissions: [{ resource: 'agent:mailbox', actions: ['receive'] }],
      },
    })
    expect(deployed.status, JSON.stringify(deployed.json)).toBe(201)
    const id = deployed.json.id as string
    const pid = deployed.json.pid as number
    expect(deployed.json).toMatchObject({ name: 'mailbox', state: 'RUNNING', runtime: 'process' })
    expect(pid).not.toBe(process.pid)
    expect(alive(pid)).toBe(true)

    // reads, for a reader too
    const listed = await api('GET', '/deployed-agents?state=RUNNING', analyst)
    expect((listed.json.agents as { id: string }[]).map((a) => a.id)).toContain(id)
    expect((await api('GET', `/deployed-agents/${id}`, analyst)).json).toMatchObject({ id, state: 'RUNNING' })
    expect((await api('GET', `/deployed-agents/${id}/tree`, analyst)).json).toMatchObject({ id, children: [] })

    // commands: the handler runs in the child process
    const out = await api('POST', `/deployed-agents/${id}/execute`, operator, { input: { op: 'pid' } })
    expect(out.json).toEqual({ output: pid })
    const echo = await api('POST', `/deployed-agents/${id}/execute`, operator, { input: { n: 1 } })
    expect(echo.json).toEqual({ output: { echo: { n: 1 } } })
    const failed = await api('POST', `/deployed-agents/${id}/execute`, operator, { input: { op: 'fail' } })
    expect(failed.status).toBeGreaterThanOrEqual(400)
    expect(failed.json.error?.message).toContain('asked to fail')

    // mailbox: what the API sends, the agent's ctx.receive reads
    const sent = await api('POST', `/deployed-agents/${id}/messages`, operator, { message: { hello: 'agent' } })
    expect(sent.status).toBe(201)
    const got = await api('POST', `/deployed-agents/${id}/execute`, operator, { input: { op: 'receive' } })
    expect(got.json).toEqual({ output: [{ from: `key:${operatorId}`, body: { hello: 'agent' } }] })
    // and what sits in the mailbox, the API can take
    await api('POST', `/deployed-agents/${id}/messages`, operator, { message: 2 })
    const peeked = await api('POST', `/deployed-agents/${id}/messages/receive`, operator, { ack: true })
    expect((peeked.json.messages as { body: unknown }[]).map((m) => m.body)).toEqual([2])
    expect((await api('POST', `/deployed-agents/${id}/messages/receive`, operator, {})).json.messages).toEqual([])

    // lifecycle
    expect((await api('POST', `/deployed-agents/${id}/pause`, operator)).json).toMatchObject({ state: 'PAUSED' })
    const refused = await api('POST', `/deployed-agents/${id}/execute`, operator, { input: 1 })
    expect(refused.status).toBe(409)
    expect(refused.json.error?.code).toBe('AGENT_STATE_INVALID')
    expect((await api('POST', `/deployed-agents/${id}/resume`, operator)).json).toMatchObject({ state: 'RUNNING' })
    const scaled = await api('POST', `/deployed-agents/${id}/scale`, operator, { limits: { memoryMb: 256 } })
    expect(scaled.json).toMatchObject({ limits: { memoryMb: 256 } })
    const usage = await api('GET', `/deployed-agents/${id}/usage`, analyst)
    expect(usage.status).toBe(200)
    expect(usage.json.memoryBytes as number).toBeGreaterThan(0)
    expect(usage.json.metrics).toMatchObject({ calls: 4, errors: 1 })

    // the process dies: the agent is FAILED, and a restart starts a new process
    await api('POST', `/deployed-agents/${id}/execute`, operator, { input: { op: 'exit' } })
    for (let i = 0; i < 100; i++) {
      if ((await api('GET', `/deployed-agents/${id}`, analyst)).json.state === 'FAILED') break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect((await api('GET', `/deployed-agents/${id}`, analyst)).json.state).toBe('FAILED')
    const restarted = await api('POST', `/deployed-agents/${id}/restart`, operator)
    expect(restarted.json).toMatchObject({ state: 'RUNNING' })
    const newPid = restarted.json.pid as number
    expect(newPid).not.toBe(pid)
    expect(alive(newPid)).toBe(true)

    const ended = await api('POST', `/deployed-agents/${id}/terminate`, operator, { reason: 'done' })
    expect(ended.json).toMatchObject({ state: 'TERMINATED', reason: 'done' })
    expect(alive(newPid)).toBe(false)
    expect((await api('POST', `/deployed-agents/${id}/terminate`, operator)).status).toBe(200) // idempotent
    const gone = await api('POST', `/deployed-agents/${id}/execute`, operator, { input: 1 })
    expect(gone.status).toBe(410)
    expect(gone.json.error?.code).toBe('AGENT_TERMINATED')

    const transitions = (await api('GET', `/deployed-agents/${id}/transitions`, analyst)).json.transitions as {
      to: string
      reason: string | null
    }[]
    expect(transitions.map((t) => t.to)).toEqual([
      'PENDING',
      'RUNNING',
      'PAUSED',
      'RUNNING',
      'RUNNING',
      'FAILED',
      'PENDING',
      'RUNNING',
      'TERMINATED',
    ])

    // every state-changing call is in the audit log, with the key and the request id
    const audit = (await api('GET', '/security/audit?resource=' + encodeURIComponent(`agent:${id}`), admin)).json
      .entries as { actor: string; action: string; outcome: string; requestId: string }[]
    const actions = audit.map((e) => `${e.action}:${e.outcome}`)
    for (const a of ['pause', 'resume', 'scale', 'restart', 'terminate', 'execute', 'send', 'receive'])
      expect(actions, a).toContain(`agent.${a}:succeeded`)
    expect(actions).toContain('agent.execute:failed')
    expect(audit.every((e) => e.actor === `key:${operatorId}` && e.requestId.startsWith('dep-'))).toBe(true)
    const deploys = (await api('GET', '/security/audit?action=agent.deploy', admin)).json.entries as {
      requestId: string
      details: Record<string, unknown>
    }[]
    expect(deploys.find((e) => e.requestId === deployed.requestId)?.details).toMatchObject({
      agent: id,
      name: 'mailbox',
    })
  }, 60_000)

  it('deploys only modules of the agent modules folder, and only for a key that may deploy', async () => {
    const outside = await api('POST', '/deployed-agents', operator, {
      spec: { name: 'x', module: '../team/tree-agents.mjs', export: 'parent' },
    })
    expect(outside.status).toBe(403)
    expect(outside.json.error).toMatchObject({ code: 'PERMISSION_DENIED', details: { field: 'module' } })
    const absolute = await api('POST', '/deployed-agents', admin, {
      spec: { name: 'x', module: resolve(MODULES, '../team/tree-agents.mjs'), export: 'parent' },
    })
    expect(absolute.status).toBe(403) // ADMIN too: the folder is the rule
    const missing = await api('POST', '/deployed-agents', operator, { spec: { name: 'x', module: 'nope.mjs' } })
    expect(missing.status).toBe(400)
    expect(missing.json.error?.code).toBe('AGENT_SPEC_INVALID')
    const preload = await api('POST', '/deployed-agents', operator, {
      spec: { name: 'x', module: 'mailbox.mjs', env: { LD_PRELOAD: '/tmp/x.so' } },
    })
    expect(preload.status).toBe(400)
    expect(preload.json.error).toMatchObject({ code: 'AGENT_SPEC_INVALID', details: { field: 'env.LD_PRELOAD' } })
    const badSpec = await api('POST', '/deployed-agents', operator, {
      spec: { name: 'x', module: 'mailbox.mjs', bogus: 1 },
    })
    expect(badSpec.json.error?.code).toBe('AGENT_SPEC_INVALID')
    const reader = await api('POST', '/deployed-agents', analyst, { spec: { name: 'x', module: 'mailbox.mjs' } })
    expect(reader.status).toBe(403)
    expect(reader.json.error?.code).toBe('PERMISSION_DENIED')
  })

  it('lists and shows deployed agents with flotilla agent list/show --server', async () => {
    const agent = await api('POST', '/deployed-agents', operator, {
      spec: { name: 'listed', module: 'mailbox.mjs', runtime: 'inprocess' },
    })
    const id = agent.json.id as string
    const env = { FLOTILLA_STORE: undefined, FLOTILLA_SERVER: undefined }
    const list = await runCli(['agent', 'list', '--name', 'listed', '--server', server.url, '--api-key', analyst], {
      env,
    })
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toContain(id)
    expect(list.stdout).toContain('RUNNING')
    const show = await runCli(['agent', 'show', id, '--json', '--server', server.url, '--api-key', analyst], { env })
    expect(show.code, show.stderr).toBe(0)
    const shown = JSON.parse(show.stdout) as { agent: { id: string }; transitions: { to: string }[] }
    expect(shown.agent.id).toBe(id)
    expect(shown.transitions.map((t) => t.to)).toEqual(['PENDING', 'RUNNING'])
    const missing = await runCli(['agent', 'show', 'agt_nobody', '--server', server.url, '--api-key', analyst], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('AGENT_NOT_FOUND')
    await api('POST', `/deployed-agents/${id}/terminate`, operator)
  })

  it('shows an agent another process holds, and answers a control call on it with 409 AGENT_NOT_HELD', async () => {
    // Another holder on the same SQLite file: its supervisor, its store connection.
    const store = SqliteStore.open({ path: join(dir, 'f.db') })
    const other = new AgentSupervisor({ store, runtimes: [new InProcessRuntime()], workspaceRoot: join(dir, 'other') })
    try {
      const elsewhere = await other.deploy({ name: 'elsewhere', module: resolve(MODULES, 'mailbox.mjs') })
      for (const s of [server, bare]) {
        const shown = await call(s.url, 'GET', `/deployed-agents/${elsewhere.id}`, admin)
        expect(shown.json).toMatchObject({ id: elsewhere.id, state: 'RUNNING', name: 'elsewhere' })
        for (const op of ['pause', 'resume', 'restart', 'terminate', 'execute', 'messages', 'scale']) {
          const body =
            op === 'execute'
              ? { input: 1 }
              : op === 'messages'
                ? { message: 1 }
                : op === 'scale'
                  ? { limits: { memoryMb: 64 } }
                  : undefined
          const res = await call(s.url, 'POST', `/deployed-agents/${elsewhere.id}/${op}`, admin, body)
          expect(res.status, `${op}: ${JSON.stringify(res.json)}`).toBe(s === bare && op === 'messages' ? 409 : 409)
          expect(res.json.error?.code, op).toBe(
            s === bare && op === 'messages' ? 'AGENT_HOST_DISABLED' : 'AGENT_NOT_HELD',
          )
        }
        const usage = await call(s.url, 'GET', `/deployed-agents/${elsewhere.id}/usage`, admin)
        expect(usage.json.error).toMatchObject({
          code: 'AGENT_NOT_HELD',
          details: { agent: elsewhere.id, state: 'RUNNING' },
        })
      }
      expect(other.stateOf(elsewhere.id)).toBe('RUNNING') // nothing happened to it
      const deploy = await call(bare.url, 'POST', '/deployed-agents', admin, {
        spec: { name: 'x', module: 'mailbox.mjs' },
      })
      expect(deploy.status).toBe(409)
      expect(deploy.json.error?.code).toBe('AGENT_HOST_DISABLED')
      const unknown = await api('POST', '/deployed-agents/agt_nobody/pause', admin)
      expect(unknown.status).toBe(404)
      expect(unknown.json.error?.code).toBe('AGENT_NOT_FOUND')
    } finally {
      await other.close()
      await store.close()
    }
  })
})
