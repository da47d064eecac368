import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'

// Alerts through the HTTP API: a server watching the store raises alerts for
// runs a worker executes, lists them, streams them, and lets only ADMIN keys
// read and replace the rules.

describe('HTTP API: alerts', () => {
  let backend: Backend
  let server: RunningServer
  let admin: string
  let worker: Worker
  beforeEach(async () => {
    backend = await openBackend('memory')
    const workflows = new WorkflowCatalog()
    workflows.add(
      workflow('risky')
        .task('t', { agent: 'risky', input: { $ref: 'input.fail' } })
        .build(),
    )
    server = await startServer({
      backend,
      port: 0,
      workflows,
      onAdminKey: (k) => (admin = k),
      alerts: {
        rules: [
          {
            id: 'failing',
            kind: 'errorRate',
            threshold: 0.5,
            minSamples: 1,
            window: 2,
            severity: 'critical',
            hysteresis: 0.1,
          },
        ],
      },
    })
    worker = new Worker({ backend })
    await worker.register(
      defineAgent({
        name: 'risky',
        handler: (fail: boolean) => {
          if (fail) throw new Error('it failed')
          return 'ok'
        },
      }),
    )
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
  const newKey = async (role: string) =>
    (
      await call<{ key: string }>('/security/keys', admin, {
        method: 'POST',
        body: JSON.stringify({ name: role.toLowerCase(), role }),
      })
    ).body.key
  const run = async (fail: boolean): Promise<void> => {
    const r = await call<{ id: string }>('/workflows/risky/runs', admin, {
      method: 'POST',
      body: JSON.stringify({ input: { fail } }),
    })
    expect(r.status).toBe(201)
    await expect
      .poll(async () => (await call<{ state: string }>(`/runs/${r.body.id}`, admin)).body.state, { timeout: 20_000 })
      .toBe(fail ? 'FAILED' : 'SUCCEEDED')
  }
  type Alerts = { alerts: Array<Record<string, unknown>> }

  it('raises and resolves alerts for runs a worker executes, listed and streamed', async () => {
    const analyst = await newKey('ANALYST')
    const sse = await fetch(`${server.url}/api/v1/events/alerts`, { headers: { authorization: `Bearer ${analyst}` } })
    expect(sse.status).toBe(200)
    const reader = sse.body!.getReader()
    await run(true)
    await expect
      .poll(async () => (await call<Alerts>('/alerts', analyst)).body.alerts.length, { timeout: 10_000 })
      .toBe(1)
    const [alert] = (await call<Alerts>('/alerts', analyst)).body.alerts
    expect(alert).toMatchObject({
      rule: 'failing',
      severity: 'critical',
      state: 'raised',
      subject: { agent: 'risky' },
      value: 1,
      threshold: 0.5,
    })
    expect(Object.keys(alert).sort()).toEqual(
      ['id', 'message', 'raisedAt', 'rule', 'severity', 'state', 'subject', 'threshold', 'value'].sort(),
    )
    let text = ''
    while (!text.includes('event: alert.raised')) text += new TextDecoder().decode((await reader.read()).value)
    expect(text).toContain(`"id":"${String(alert.id)}"`)
    await run(false)
    await run(false)
    await expect
      .poll(async () => (await call<Alerts>('/alerts?state=resolved', analyst)).body.alerts.map((a) => a.id), {
        timeout: 10_000,
      })
      .toEqual([alert.id])
    expect((await call<Alerts>('/alerts?state=raised', analyst)).body.alerts).toEqual([])
    await reader.cancel()
  })

  it('lets only ADMIN keys read and replace the rules, validated field by field, the secret never shown', async () => {
    const operator = await newKey('OPERATOR')
    expect((await call('/alerts/rules', operator)).status).toBe(403)
    expect((await call('/alerts', operator)).status).toBe(200)
    const put = (key: string, body: unknown) =>
      call<Record<string, unknown>>('/alerts/rules', key, { method: 'PUT', body: JSON.stringify(body) })
    const rules = {
      rules: [{ kind: 'runCost', threshold: 1 }],
      webhook: { url: 'http://127.0.0.1:9/hook', secret: 'sixteen characters!' },
    }
    expect((await put(operator, rules)).status).toBe(403)
    const ok = await put(admin, rules)
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({
      rules: [{ id: 'runCost', kind: 'runCost', threshold: 1, severity: 'warning', hysteresis: 0.1 }],
      webhook: { url: 'http://127.0.0.1:9/hook', signed: true },
    })
    // Without the secret, the same URL keeps it.
    const again = await put(admin, {
      rules: [{ kind: 'runCost', threshold: 2 }],
      webhook: { url: 'http://127.0.0.1:9/hook' },
    })
    expect(again.body.webhook).toEqual({ url: 'http://127.0.0.1:9/hook', signed: true })
    expect(server.deps.alerts.rules().webhook?.secret).toBe('sixteen characters!')
    const bad = await put(admin, { rules: [{ kind: 'errorRate', threshold: 3 }] })
    expect(bad.status).toBe(400)
    expect(bad.body).toMatchObject({
      error: { code: 'ALERTS_CONFIG_INVALID', details: { field: 'rules.0.threshold' } },
    })
    expect((await call<Record<string, unknown>>('/alerts/rules', admin)).body).toEqual(again.body)
  })
})
