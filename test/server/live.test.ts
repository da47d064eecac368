import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { workflow } from '../../src/workflows/builder.js'
import { readSse, type SseEvent } from '../helpers/sse.js'

type Sse = SseEvent<{ type: string; runId: string }>

/** Reads server-sent events from a response until `stop` says so (or the stream ends). */
const readEvents = (res: Response, stop: (e: Sse) => boolean) => readSse<Sse['data']>(res, stop)

let backend: Backend
let server: RunningServer
let worker: Worker
let admin = ''
beforeAll(async () => {
  backend = await openBackend('memory')
  const workflows = new WorkflowCatalog()
  workflows.add(
    workflow('pair')
      .task('a', { agent: 'echo2', input: 1 })
      .task('b', { agent: 'echo2', input: 2, dependsOn: ['a'] })
      .build(),
  )
  server = await startServer({ backend, port: 0, workflows, onAdminKey: (k) => (admin = k) })
  worker = new Worker({ backend })
  await worker.register(defineAgent({ name: 'echo2', handler: (x: unknown) => x }))
  await worker.start()
})
afterAll(async () => {
  await worker.stop()
  await server.close()
  await backend.close()
})

const headers = () => ({ authorization: `Bearer ${admin}` })
const startRun = async () =>
  (
    (await (
      await fetch(`${server.url}/api/v1/workflows/pair/runs`, { method: 'POST', headers: headers() })
    ).json()) as {
      id: string
    }
  ).id

describe('live events (server-sent events)', () => {
  it('streams a run’s events as they are stored, and ends after its final event', async () => {
    const id = await startRun()
    const res = await fetch(`${server.url}/api/v1/runs/${id}/live`, { headers: headers() })
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const events = await readEvents(res, () => false)
    const types = events.map((e) => e.event)
    expect(types[0]).toBe('run.started')
    expect(types.at(-1)).toBe('run.succeeded')
    expect(types.filter((t) => t === 'task.succeeded')).toHaveLength(2)
    expect(events.every((e) => e.data.runId === id && e.id !== '')).toBe(true)
  })

  it('resumes from Last-Event-ID with exactly the events after it', async () => {
    const id = await startRun()
    const all = await readEvents(
      await fetch(`${server.url}/api/v1/runs/${id}/live`, { headers: headers() }),
      () => false,
    )
    const cut = 2
    const rest = await readEvents(
      await fetch(`${server.url}/api/v1/runs/${id}/live`, {
        headers: { ...headers(), 'last-event-id': all[cut - 1]!.id },
      }),
      () => false,
    )
    expect(rest.map((e) => e.id)).toEqual(all.slice(cut).map((e) => e.id))
  })

  it('fans one run out to 30 streams: each receives every stored event once, in order, and ends', async () => {
    const id = await startRun()
    const streams = await Promise.all(
      Array.from({ length: 30 }, () => fetch(`${server.url}/api/v1/runs/${id}/live`, { headers: headers() })),
    )
    const got = await Promise.all(streams.map((res) => readEvents(res, () => false)))
    const stored = (await (
      await fetch(`${server.url}/api/v1/runs/${id}/events?afterSeq=0&limit=1000`, { headers: headers() })
    ).json()) as { events: { event: { type: string } }[] }
    expect(stored.events.at(-1)?.event.type).toBe('run.succeeded')
    for (const events of got) {
      expect(events.map((e) => e.event)).toEqual(stored.events.map((e) => e.event.type))
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length)
      expect(events.map((e) => e.id)).toEqual(got[0]!.map((e) => e.id))
    }
  })

  it('streams every run on /events, and a key without run:* read is refused', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, { headers: headers() })
    const id = await startRun()
    const events = await readEvents(res, (e) => e.event === 'run.succeeded' && e.data.runId === id)
    expect(events.some((e) => e.data.runId === id && e.event === 'run.started')).toBe(true)
    const { key } = (await (
      await fetch(`${server.url}/api/v1/security/keys`, {
        method: 'POST',
        headers: { ...headers(), 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'g', role: 'GUEST' }),
      })
    ).json()) as { key: string }
    expect((await fetch(`${server.url}/api/v1/events`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(
      403,
    )
  })
})
