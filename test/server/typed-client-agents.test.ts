import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { createApiClient, unwrap } from '../../src/client/api-client.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { AGENT_MODULES } from '../helpers/api-samples.js'

/** The agent routes through the typed client (flotilla/client): deployed agents, registry metrics and health. */

let dir: string
let backend: Backend
let server: RunningServer
let worker: Worker
let admin = ''
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-typed-agents-'))
  backend = await openBackend('memory')
  server = await startServer({
    backend,
    port: 0,
    onAdminKey: (k) => (admin = k),
    agents: { modules: AGENT_MODULES, workspaceRoot: dir, runtimes: [new InProcessRuntime()] },
  })
  worker = new Worker({ backend, leaseMs: 900 })
  await worker.register(defineAgent({ name: 'echo', handler: (x: unknown) => x }))
  await worker.start()
})
afterAll(async () => {
  await worker.stop({ drainMs: 0 })
  await server.close()
  await backend.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('the typed client on the agent routes', () => {
  it('deploys, commands, messages, lists and terminates a deployed agent, typed end to end', async () => {
    const api = createApiClient({ url: server.url, apiKey: admin })
    const agent = unwrap(
      await api.POST('/api/v1/deployed-agents', { body: { spec: { name: 'typed', module: 'mailbox.mjs' } } }),
    )
    expect(agent.state).toBe('RUNNING')
    const id = { params: { path: { id: agent.id } } }
    const out = unwrap(await api.POST('/api/v1/deployed-agents/{id}/execute', { ...id, body: { input: { a: 1 } } }))
    expect(out.output).toEqual({ echo: { a: 1 } })
    const sent = unwrap(await api.POST('/api/v1/deployed-agents/{id}/messages', { ...id, body: { message: 'hi' } }))
    const taken = unwrap(await api.POST('/api/v1/deployed-agents/{id}/messages/receive', { ...id, body: {} }))
    expect(taken.messages.map((m) => [m.id, m.body])).toEqual([[sent.id, 'hi']])
    const listed = unwrap(await api.GET('/api/v1/deployed-agents', { params: { query: { name: 'typed' } } }))
    expect(listed.agents.map((a) => a.id)).toEqual([agent.id])
    const tree = unwrap(await api.GET('/api/v1/deployed-agents/{id}/tree', id))
    expect(tree.children).toEqual([])
    const ended = unwrap(await api.POST('/api/v1/deployed-agents/{id}/terminate', { ...id, body: {} }))
    expect(ended.state).toBe('TERMINATED')
    try {
      unwrap(await api.POST('/api/v1/deployed-agents/{id}/pause', { ...id, body: {} }))
      expect.unreachable()
    } catch (e) {
      expect(isFlotillaError(e) && e.code).toBe('AGENT_TERMINATED')
    }
  })

  it('reads registry metrics and health of a worker agent', async () => {
    const api = createApiClient({ url: server.url, apiKey: admin })
    const health = unwrap(await api.GET('/api/v1/agents/{name}/health', { params: { path: { name: 'echo' } } }))
    expect(health.status).toBe('HEALTHY')
    expect(health.workers.map((w) => w.worker)).toEqual([worker.id])
    const metrics = unwrap(await api.GET('/api/v1/agents/{name}/metrics', { params: { path: { name: 'echo' } } }))
    expect(metrics).toMatchObject({ agent: 'echo', calls: 0, errors: 0 })
  })
})
