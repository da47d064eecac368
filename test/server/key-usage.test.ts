import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'

// Model spend through the HTTP API: a task's stored spend in the task
// responses, and the spend of the runs each API key started.

const asker = defineLlmAgent({
  name: 'asker',
  model: scriptedModel([{ text: 'an answer', usage: { inputTokens: 1000, outputTokens: 100 } }], {
    repeatLast: true,
    modelId: 'm',
  }),
  prices: { 'scripted:m': { input: 2, output: 10 } }, // $ per million tokens: $0.003 a call
})

describe('HTTP API: model spend', () => {
  let backend: Backend
  let server: RunningServer
  let admin: string
  let worker: Worker
  beforeEach(async () => {
    backend = await openBackend('memory')
    const workflows = new WorkflowCatalog()
    workflows.add(
      workflow('ask').task('a', { agent: 'asker', input: 'q1' }).task('b', { agent: 'asker', input: 'q2' }).build(),
    )
    server = await startServer({ backend, port: 0, workflows, onAdminKey: (k) => (admin = k) })
    worker = new Worker({ backend })
    await worker.register(asker)
    await worker.start()
  })
  afterEach(async () => {
    await worker.stop()
    await server.close()
    await backend.close()
  })

  const call = async <T>(path: string, key: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${key}`)
    if (init.body !== undefined) headers.set('content-type', 'application/json')
    const r = await fetch(`${server.url}/api/v1${path}`, { ...init, headers })
    return { status: r.status, body: (await r.json()) as T }
  }
  const newKey = async (name: string, role = 'SERVICE') =>
    (
      await call<{ key: string; info: { id: string } }>('/security/keys', admin, {
        method: 'POST',
        body: JSON.stringify({ name, role }),
      })
    ).body
  const startRun = async (key: string): Promise<string> => {
    const r = await call<{ id: string }>('/workflows/ask/runs', key, { method: 'POST', body: '{}' })
    expect(r.status).toBe(201)
    return r.body.id
  }
  const finished = async (id: string, key: string) => {
    await expect
      .poll(async () => (await call<{ state: string }>(`/runs/${id}`, key)).body.state, {
        timeout: 20_000,
        interval: 25,
      })
      .toBe('SUCCEEDED')
  }

  it("shows each task's stored spend, and sums the spend of the runs each key started", async () => {
    const one = await newKey('one')
    const two = await newKey('two')
    const r1 = await startRun(one.key)
    const r2 = await startRun(one.key)
    const r3 = await startRun(two.key)
    for (const r of [r1, r2, r3]) await finished(r, admin)

    const tasks = await call<{ tasks: { taskId: string; model: Record<string, number> | null }[] }>(
      `/runs/${r1}/tasks`,
      one.key,
    )
    expect(tasks.status).toBe(200)
    expect(tasks.body.tasks.map((t) => [t.taskId, t.model])).toEqual([
      [
        'a',
        {
          calls: 1,
          replayed: 0,
          inputTokens: 1000,
          outputTokens: 100,
          reasoningTokens: 0,
          cachedInputTokens: 0,
          costUsd: expect.closeTo(0.003, 9),
        },
      ],
      [
        'b',
        {
          calls: 1,
          replayed: 0,
          inputTokens: 1000,
          outputTokens: 100,
          reasoningTokens: 0,
          cachedInputTokens: 0,
          costUsd: expect.closeTo(0.003, 9),
        },
      ],
    ])

    const usage = await call<{ key: string; runs: number; scanned: number; model: Record<string, number> }>(
      `/security/keys/${one.info.id}/usage`,
      admin,
    )
    expect(usage.status).toBe(200)
    expect(usage.body).toMatchObject({
      key: one.info.id,
      runs: 2,
      scanned: 3,
      model: { calls: 4, inputTokens: 4000, outputTokens: 400 },
    })
    expect(usage.body.model.costUsd).toBeCloseTo(0.012, 9)
    const other = await call<{ runs: number; model: { calls: number } }>(`/security/keys/${two.info.id}/usage`, admin)
    expect(other.body).toMatchObject({ runs: 1, model: { calls: 2 } })
    // Only the runs created since a time.
    const later = await call<{ runs: number; scanned: number }>(
      `/security/keys/${one.info.id}/usage?since=${Date.now() + 60_000}`,
      admin,
    )
    expect(later.body).toMatchObject({ runs: 0, scanned: 0 })
  })

  it('answers KEY_NOT_FOUND for an unknown key, and refuses a key without read on keys', async () => {
    const missing = await call<{ error: { code: string } }>('/security/keys/k_nope/usage', admin)
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('KEY_NOT_FOUND')
    const service = await newKey('svc')
    const denied = await call<{ error: { code: string } }>(`/security/keys/${service.info.id}/usage`, service.key)
    expect(denied.status).toBe(403)
    expect(denied.body.error.code).toBe('PERMISSION_DENIED')
  })
})
