import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { workflow } from '../../src/workflows/builder.js'

/**
 * Registry agents' metrics and health over HTTP: the server holds no agents,
 * so both come from the heartbeats of real workers (each carries its agents'
 * calls, errors, latency, ready instances and circuit state).
 */

const steady = defineAgent({
  name: 'steady',
  handler: async (x: unknown) => {
    await new Promise((r) => setTimeout(r, 5))
    return x
  },
})
const flaky = defineAgent({
  name: 'flaky',
  handler: () => {
    throw new Error('flaky is down')
  },
})

describe('registry agents: metrics and health from the workers', () => {
  let backend: Backend
  let server: RunningServer
  const workers: Worker[] = []
  let analyst = ''

  const get = async (path: string, key = analyst) => {
    const res = await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${key}` } })
    return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string } } }
  }

  beforeAll(async () => {
    backend = await openBackend('memory')
    let admin = ''
    server = await startServer({ backend, port: 0, onAdminKey: (k) => (admin = k) })
    const created = await fetch(`${server.url}/api/v1/security/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'reader', role: 'ANALYST' }),
    })
    analyst = ((await created.json()) as { key: string }).key
    for (let i = 0; i < 2; i++) {
      const w = new Worker({ backend, leaseMs: 900 })
      await w.register(steady)
      if (i === 0) await w.register(flaky)
      await w.start()
      workers.push(w)
    }
  })

  afterAll(async () => {
    for (const w of workers) await w.stop({ drainMs: 0 })
    await server?.close()
    await backend?.close()
  })

  it('sums the calls and errors the workers report, and says which agent is degraded', async () => {
    let wf = workflow('mixed')
    for (let i = 0; i < 6; i++) wf = wf.task(`s${i}`, { agent: 'steady', input: i })
    for (let i = 0; i < 2; i++) wf = wf.task(`f${i}`, { agent: 'flaky', input: i, continueOnFailure: true })
    const client = server.deps.client
    const runId = await client.start(wf.build())
    expect((await client.result(runId, { timeoutMs: 20_000 })).state).toBe('SUCCEEDED')

    // The next heartbeats (every leaseMs / 3) carry the new counts.
    let metrics = (await get('/agents/steady/metrics')).json
    for (let i = 0; i < 100 && metrics.calls !== 6; i++) {
      await new Promise((r) => setTimeout(r, 50))
      metrics = (await get('/agents/steady/metrics')).json
    }
    expect(metrics).toMatchObject({ agent: 'steady', calls: 6, errors: 0, errorRate: 0 })
    expect(metrics.p95LatencyMs as number).toBeGreaterThanOrEqual(4)
    const rows = metrics.workers as { worker: string; calls: number }[]
    expect(rows.map((r) => r.worker).sort()).toEqual(workers.map((w) => w.id).sort())
    expect(rows.reduce((n, r) => n + r.calls, 0)).toBe(6)

    let bad = (await get('/agents/flaky/metrics')).json
    for (let i = 0; i < 100 && bad.errors !== 2; i++) {
      await new Promise((r) => setTimeout(r, 50))
      bad = (await get('/agents/flaky/metrics')).json
    }
    expect(bad).toMatchObject({ agent: 'flaky', calls: 2, errors: 2, errorRate: 1 })

    const healthy = (await get('/agents/steady/health')).json
    expect(healthy).toMatchObject({ agent: 'steady', status: 'HEALTHY' })
    expect(healthy.workers).toHaveLength(2)
    expect(
      (healthy.workers as { circuit: string; ready: number }[]).every((w) => w.circuit === 'CLOSED' && w.ready === 1),
    ).toBe(true)
    const degraded = (await get('/agents/flaky/health')).json
    expect(degraded).toMatchObject({
      status: 'DEGRADED',
      workers: [{ worker: workers[0]!.id, errorRate: 1 }],
    })

    const unknown = await get('/agents/nobody/metrics')
    expect(unknown.status).toBe(404)
    expect(unknown.json.error?.code).toBe('AGENT_NOT_FOUND')
  }, 40_000)

  it('forgets a worker that stops: its agents leave the metrics and health', async () => {
    const [first] = workers
    await first!.stop({ drainMs: 0 })
    workers.shift()
    const gone = await get('/agents/flaky/health')
    expect(gone.status).toBe(404)
    const steadyRows = (await get('/agents/steady/metrics')).json.workers as unknown[]
    expect(steadyRows).toHaveLength(1)
  })
})
