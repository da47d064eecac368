import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { MAX_PENDING_EVENTS } from '../../src/server/team-events.js'
import { readSse, type SseEvent } from '../helpers/sse.js'

/** Agent and security events over server-sent events: who may read them, what comes, resuming, slow clients. */

const MODULES = resolve(import.meta.dirname, '../fixtures/server-agents')

type Sse = SseEvent

/** Reads server-sent events until `stop` says so (or the stream ends). */
const readEvents = (res: Response, stop: (e: Sse, all: Sse[]) => boolean) => readSse(res, stop)

describe('agent and security events over SSE', () => {
  let dir: string
  let backend: Backend
  let server: RunningServer
  const keys: Record<string, string> = {}

  const open = (path: string, key: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${key}`, ...headers } })
  const post = async (path: string, key: string, body: unknown) =>
    (await fetch(`${server.url}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.json())) as Record<string, unknown>

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-team-events-'))
    backend = await openBackend('memory')
    server = await startServer({
      backend,
      port: 0,
      onAdminKey: (k) => (keys.ADMIN = k),
      guard: { requests: 1e9, failures: 1e9 },
      agents: { modules: MODULES, workspaceRoot: dir, runtimes: [new InProcessRuntime()] },
    })
    for (const role of ['OPERATOR', 'ANALYST', 'GUEST'])
      keys[role] = (await post('/security/keys', keys.ADMIN!, { name: role.toLowerCase(), role })).key as string
  })

  afterAll(async () => {
    await server?.close()
    await backend?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('streams the lifecycle of an agent this server governs to a reader, live', async () => {
    const res = await open('/events/agents', keys.ANALYST!)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reading = readEvents(res, (e) => e.event === 'agent.state' && e.data.to === 'TERMINATED')
    const agent = await post('/deployed-agents', keys.OPERATOR!, { spec: { name: 'watched', module: 'mailbox.mjs' } })
    await post(`/deployed-agents/${agent.id as string}/execute`, keys.OPERATOR!, { input: { op: 'chatter', lines: 1 } })
    await post(`/deployed-agents/${agent.id as string}/pause`, keys.OPERATOR!, {})
    await post(`/deployed-agents/${agent.id as string}/terminate`, keys.OPERATOR!, {})
    const events = await reading
    const states = events.filter((e) => e.event === 'agent.state').map((e) => e.data.to)
    expect(states).toEqual(['PENDING', 'RUNNING', 'PAUSED', 'TERMINATED'])
    expect(events.every((e) => e.data.agentId === agent.id && e.id === '')).toBe(true) // live only: no resume ids
    const reported = events.find((e) => e.event === 'agent.reported')
    expect(reported?.data).toMatchObject({ name: 'watched', report: { type: 'log', data: { message: 'line 0' } } })
  })

  it('lets only keys that read agents open the agent stream, and only audit readers the security stream', async () => {
    expect((await open('/events/agents', keys.GUEST!)).status).toBe(403)
    expect((await open('/events/security', keys.OPERATOR!)).status).toBe(403)
    expect((await open('/events/security', keys.GUEST!)).status).toBe(403)
    const analyst = await open('/events/security', keys.ANALYST!)
    expect(analyst.status).toBe(200)
    await analyst.body?.cancel()
    const bad = await open('/events/security?after=x', keys.ADMIN!)
    expect(bad.status).toBe(400)
  })

  it('streams the audit log (key created, auth failure) and resumes after a Last-Event-ID', async () => {
    await post('/security/keys', keys.ADMIN!, { name: 'fresh', role: 'GUEST' })
    await fetch(`${server.url}/api/v1/runs`, {
      headers: { authorization: `Bearer flt_000000000000_${'x'.repeat(43)}` },
    })
    const all = await readEvents(await open('/events/security', keys.ANALYST!), (_e, seen) =>
      seen.some((s) => s.data.action === 'auth.fail'),
    )
    const made = all.filter((e) => e.data.action === 'key.create').at(-1)
    expect(made).toBeDefined()
    expect(all.map((e) => Number(e.id))).toEqual(all.map((e) => e.data.seq))
    // Resume after the key.create entry: the next one comes first, nothing is repeated.
    const resumed = await readEvents(
      await open('/events/security', keys.ANALYST!, { 'last-event-id': made!.id }),
      (e) => e.data.action === 'auth.fail',
    )
    expect(resumed[0]!.data.seq).toBe(Number(made!.id) + 1)
    expect(resumed.some((e) => Number(e.id) <= Number(made!.id))).toBe(false)
  })

  it('keeps at most MAX_PENDING_EVENTS for a client and says how many it dropped', async () => {
    const agent = await post('/deployed-agents', keys.OPERATOR!, { spec: { name: 'chatty', module: 'mailbox.mjs' } })
    const res = await open('/events/agents', keys.ANALYST!)
    // 5,000 log lines in one synchronous burst: the writer cannot send any before the burst ends.
    const lines = 5 * MAX_PENDING_EVENTS
    const reading = readEvents(
      res,
      (e) =>
        e.event === 'agent.reported' &&
        e.data.report !== undefined &&
        (e.data.report as { data: { message: string } }).data.message === `line ${lines - 1}`,
    )
    await post(`/deployed-agents/${agent.id as string}/execute`, keys.OPERATOR!, { input: { op: 'chatter', lines } })
    const events = await reading
    const gap = events.find((e) => e.event === 'stream.gap')
    expect(gap?.data.dropped as number).toBeGreaterThan(0)
    const logs = events.filter((e) => e.event === 'agent.reported')
    expect(logs.length + (gap!.data.dropped as number)).toBe(lines)
    expect(logs.length).toBeLessThanOrEqual(MAX_PENDING_EVENTS)
    await post(`/deployed-agents/${agent.id as string}/terminate`, keys.OPERATOR!, {})
  })
})
