import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'

/** The samples of a Prometheus text exposition: `name{labels}` → value; `# TYPE` lines by name. */
function parseExposition(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) types.set(type[1]!, type[2]!)
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels = (m[2] ?? '{}').slice(1, -1)
    const sorted = labels === '' ? [] : labels.match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g)!.sort()
    samples.set(`${m[1]}{${sorted.join(',')}}`, Number(m[3]))
  }
  return { samples, types }
}

let backend: Backend
let server: RunningServer
let worker: Worker
let admin = ''
let flaky = 0
/** Lets the `gate` agent's handler return. */
let openGate: () => void = () => undefined
const everything = [{ resource: '**', actions: ['*'] }]
beforeAll(async () => {
  backend = await openBackend('memory')
  const workflows = new WorkflowCatalog()
  workflows.add(
    workflow('measured')
      .task('a', { agent: 'double', input: 1 })
      .task('b', { agent: 'flaky', input: 2, dependsOn: ['a'], retry: { maxAttempts: 3, initialDelayMs: 1 } })
      .build(),
  )
  workflows.add(workflow('gated').task('g', { agent: 'gate', input: 1 }).build())
  workflows.add(
    workflow('broken')
      .task('x', { agent: 'broken', input: 1, retry: { maxAttempts: 5, initialDelayMs: 1 } })
      .build(),
  )
  workflows.add(workflow('mail').task('m', { agent: 'mailer', input: 1 }).build())
  server = await startServer({ backend, port: 0, workflows, onAdminKey: (k) => (admin = k) })
  worker = new Worker({ backend, telemetry: { meter: server.metrics!.meter } })
  await worker.register(defineAgent({ name: 'double', handler: (n: number) => n * 2 }))
  await worker.register(
    defineAgent({
      name: 'flaky',
      handler: (n: number) => {
        if (++flaky === 1) throw new Error('first attempt fails')
        return n
      },
    }),
  )
  await worker.register(
    defineAgent({ name: 'gate', handler: () => new Promise<number>((resolve) => (openGate = () => resolve(1))) }),
  )
  await worker.register(
    defineAgent({
      name: 'broken',
      handler: () => {
        throw new Error('always fails')
      },
    }),
  )
  await worker.register(
    defineAgent({
      name: 'mailer',
      permissions: everything,
      handler: async (_: number, ctx) => {
        await ctx.send('double', { hello: 1 })
        await ctx.publish('note', { n: 1 })
        await ctx.send('mailer', 'never acknowledged')
        // Received five times without an ack: the memory bus's fifth delivery makes it a dead letter
        let received = 0
        for (let i = 0; i < 50 && received < 5; i++) {
          received += (await ctx.receive({ visibilityTimeoutMs: 1 })).length
          await new Promise((r) => setTimeout(r, 5))
        }
        return received
      },
    }),
  )
  await worker.start()
})
afterAll(async () => {
  await worker.stop()
  await server.close()
  await backend.close()
})

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

describe('GET /metrics', () => {
  it('serves the run, the worker and the HTTP requests in the Prometheus text format, to a key that may read runs', async () => {
    const started = await fetch(`${server.url}/api/v1/workflows/measured/runs`, {
      method: 'POST',
      headers: bearer(admin),
    })
    expect(started.status).toBe(201)
    const { id } = (await started.json()) as { id: string }
    expect((await server.deps.client.result(id, { timeoutMs: 10_000, pollMs: 10 })).state).toBe('SUCCEEDED')
    expect((await fetch(`${server.url}/api/v1/runs/${id}`, { headers: bearer(admin) })).status).toBe(200)
    await fetch(`${server.url}/api/v1/runs/run_nope`, { headers: bearer(admin) })

    const analyst = await server.deps.keys.create({ name: 'prometheus', role: 'ANALYST', by: 'test' })
    const res = await fetch(`${server.url}/metrics`, { headers: bearer(analyst.key) })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    if (process.env.SHOW_METRICS) console.log(text)
    const { samples, types } = parseExposition(text)

    expect(samples.get('flotilla_task_attempts_total{agent="double@1.0.0",outcome="ok"}')).toBe(1)
    expect(samples.get('flotilla_task_attempts_total{agent="flaky@1.0.0",outcome="error"}')).toBe(1)
    expect(samples.get('flotilla_task_attempts_total{agent="flaky@1.0.0",outcome="ok"}')).toBe(1)
    expect(types.get('flotilla_task_duration_seconds')).toBe('histogram')
    expect(samples.get('flotilla_task_duration_seconds_count{agent="double@1.0.0",outcome="ok"}')).toBe(1)
    expect(samples.get('flotilla_task_duration_seconds_bucket{agent="double@1.0.0",le="+Inf",outcome="ok"}')).toBe(1)
    expect(samples.get('flotilla_task_duration_seconds_sum{agent="double@1.0.0",outcome="ok"}')).toBeLessThan(5)
    expect(samples.get('flotilla_task_running{agent="double@1.0.0"}')).toBe(0)
    expect(
      samples.get('flotilla_http_requests_total{method="POST",route="/api/v1/workflows/:name/runs",status="201"}'),
    ).toBe(1)
    expect(samples.get('flotilla_http_requests_total{method="GET",route="/api/v1/runs/:id",status="404"}')).toBe(1)
    expect(
      samples.get('flotilla_http_requests_total{method="GET",route="/api/v1/runs/:id",status="200"}'),
    ).toBeGreaterThanOrEqual(1)
    expect(types.get('flotilla_http_request_duration_seconds')).toBe('histogram')
    expect(samples.get('flotilla_task_retries_total{agent="flaky@1.0.0"}')).toBe(1)
    expect(samples.get('flotilla_tasks_total{state="retrying"}')).toBe(1)
    expect(samples.get('flotilla_runs_total{state="succeeded"}')).toBe(1)
    expect(samples.get(`flotilla_worker_claimed_total{worker="${worker.id}"}`)).toBe(3)
    expect(samples.get(`flotilla_worker_claim_duration_seconds_count{worker="${worker.id}"}`)).toBeGreaterThanOrEqual(3)
  })

  it('serves the queue depth, circuit states, bus traffic, dead letters and store commits of a worker', async () => {
    const analyst = await server.deps.keys.create({ name: 'prometheus-2', role: 'ANALYST', by: 'test' })
    const scrape = async () => {
      const res = await fetch(`${server.url}/metrics`, { headers: bearer(analyst.key) })
      expect(res.status).toBe(200)
      return parseExposition(await res.text())
    }
    const start = async (name: string) => {
      const res = await fetch(`${server.url}/api/v1/workflows/${name}/runs`, { method: 'POST', headers: bearer(admin) })
      expect(res.status).toBe(201)
      return ((await res.json()) as { id: string }).id
    }
    const depth = `flotilla_worker_queue_depth{worker="${worker.id}"}`

    // The gated attempt is offered and running: the worker's backlog holds it until it finishes
    const gated = await start('gated')
    let seen = 0
    for (let i = 0; i < 200 && seen === 0; i++) {
      seen = (await scrape()).samples.get(depth) ?? 0
      if (seen === 0) await new Promise((r) => setTimeout(r, 25))
    }
    expect(seen).toBe(1)
    openGate()
    expect((await server.deps.client.result(gated, { timeoutMs: 10_000, pollMs: 10 })).state).toBe('SUCCEEDED')

    const broken = await start('broken')
    expect((await server.deps.client.result(broken, { timeoutMs: 10_000, pollMs: 10 })).state).toBe('FAILED')
    const mail = await start('mail')
    const done = await server.deps.client.result(mail, { timeoutMs: 10_000, pollMs: 10 })
    expect(done.state).toBe('SUCCEEDED')
    expect((await server.deps.client.getTasks(mail)).find((t) => t.taskId === 'm')?.output).toBe(5)

    const { samples, types } = await scrape()
    expect(samples.get(depth)).toBe(0)
    expect(types.get('flotilla_circuit_state')).toBe('gauge')
    // Five failures in a row open the breaker of `broken`; the others stay closed
    expect(samples.get('flotilla_circuit_state{agent="broken@1.0.0",state="open"}')).toBe(1)
    expect(samples.get('flotilla_circuit_state{agent="broken@1.0.0",state="closed"}')).toBe(0)
    expect(samples.get('flotilla_circuit_state{agent="broken@1.0.0",state="half_open"}')).toBe(0)
    expect(samples.get('flotilla_circuit_state{agent="flaky@1.0.0",state="closed"}')).toBe(1)
    expect(samples.get('flotilla_circuit_state{agent="flaky@1.0.0",state="open"}')).toBe(0)
    // Two messages sent and an event published by `mailer`; its own message delivered five times, then dead
    expect(samples.get('flotilla_bus_published_total{kind="message"}')).toBe(2)
    expect(samples.get('flotilla_bus_published_total{kind="event"}')).toBe(1)
    expect(samples.get('flotilla_bus_delivered_total{kind="message"}')).toBe(5)
    expect(samples.get('flotilla_bus_dead_letters{agent="mailer"}')).toBe(1)
    expect(samples.has('flotilla_bus_dead_letters{agent="double"}')).toBe(false)
    // Every run's final state was committed by the worker's coordinator, timed
    expect(types.get('flotilla_store_commit_duration_seconds')).toBe('histogram')
    expect(
      samples.get('flotilla_store_commit_duration_seconds_count{path="runs",store="memory"}'),
    ).toBeGreaterThanOrEqual(4)
  })

  it('refuses a scrape without a key (401) and with a key that may not read runs (403)', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401)
    const guest = await server.deps.keys.create({ name: 'guest', role: 'GUEST', by: 'test' })
    const res = await fetch(`${server.url}/metrics`, { headers: bearer(guest.key) })
    expect(res.status).toBe(403)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PERMISSION_DENIED')
  })

  it('is absent with metrics: false', async () => {
    const bare = await startServer({ backend, port: 0, metrics: false })
    try {
      expect((await fetch(`${bare.url}/metrics`, { headers: bearer(admin) })).status).toBe(404)
    } finally {
      await bare.close()
    }
  })
})
