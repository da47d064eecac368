import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { openBackend } from '../../src/orchestrator/backend.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { startServer } from '../../src/server/serve.js'
import { AGENT_MODULES } from '../helpers/api-samples.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

// Two API servers on one PostgreSQL database: one set of keys, one audit
// chain, and one rate limit per key shared by both (RateLimiterPostgres).
await describePostgres('two servers on one PostgreSQL database', () => {
  it('share keys, the audit chain and the rate limit of a key', async () => {
    await withFreshSchema(async (url) => {
      const a = await openBackend(url)
      const b = await openBackend(url)
      let admin = ''
      const one = await startServer({ backend: a, port: 0, guard: { requests: 5 }, onAdminKey: (k) => (admin = k) })
      const two = await startServer({ backend: b, port: 0, guard: { requests: 5 } })
      try {
        expect(admin).toMatch(/^flt_/) // the second server found the key the first created
        const get = (server: typeof one) =>
          fetch(`${server.url}/api/v1/runs`, { headers: { authorization: `Bearer ${admin}` } })
        const statuses: number[] = []
        for (let i = 0; i < 3; i++) statuses.push((await get(one)).status, (await get(two)).status)
        expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200])
        const last = await get(two)
        expect(statuses[5] === 429 || last.status === 429).toBe(true)
        const limited = statuses[5] === 429 ? await get(one) : last
        expect(limited.status).toBe(429)
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
        const verify = await fetch(`${two.url}/api/v1/security/audit/verify`, {
          method: 'POST',
          headers: { 'x-api-key': admin },
        })
        // the key is limited on both servers now; the audit chain is one (checked through the store)
        expect(verify.status).toBe(429)
        expect((await one.deps.audit.verify()).ok).toBe(true)
      } finally {
        await one.close()
        await two.close()
        await a.close()
        await b.close()
      }
    })
  })
})

// Two servers on one PostgreSQL database, one governing a deployed agent:
// both list it, only its holder controls it, and the other answers AGENT_NOT_HELD.
await describePostgres('deployed agents on a shared PostgreSQL store', () => {
  it('are seen by every server and controlled by the one that holds them, over the shared bus', async () => {
    await withFreshSchema(async (url) => {
      const a = await openBackend(url)
      const b = await openBackend(url)
      const dir = mkdtempSync(join(tmpdir(), 'flotilla-pg-agents-'))
      let admin = ''
      const holder = await startServer({
        backend: a,
        port: 0,
        onAdminKey: (k) => (admin = k),
        agents: { modules: AGENT_MODULES, workspaceRoot: dir, runtimes: [new InProcessRuntime()] },
      })
      const other = await startServer({ backend: b, port: 0 })
      const call = async (server: typeof holder, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${server.url}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        return { status: res.status, json: (await res.json()) as Record<string, unknown> }
      }
      try {
        const agent = await call(holder, 'POST', '/deployed-agents', {
          spec: { name: 'pg-mailbox', module: 'mailbox.mjs' },
        })
        expect(agent.status).toBe(201)
        const id = agent.json.id as string
        expect((await call(other, 'GET', `/deployed-agents/${id}`)).json).toMatchObject({ id, state: 'RUNNING' })
        const refused = await call(other, 'POST', `/deployed-agents/${id}/pause`, {})
        expect(refused.status).toBe(409)
        expect((refused.json.error as { code: string }).code).toBe('AGENT_NOT_HELD')
        await call(holder, 'POST', `/deployed-agents/${id}/messages`, { message: { via: 'postgres' } })
        const got = await call(holder, 'POST', `/deployed-agents/${id}/execute`, { input: { op: 'receive' } })
        expect(got.json.output).toEqual([{ from: expect.stringMatching(/^key:/), body: { via: 'postgres' } }])
        expect((await call(holder, 'POST', `/deployed-agents/${id}/terminate`, {})).json).toMatchObject({
          state: 'TERMINATED',
        })
        expect((await call(other, 'GET', `/deployed-agents/${id}`)).json).toMatchObject({ state: 'TERMINATED' })
      } finally {
        await other.close()
        await holder.close()
        await a.close()
        await b.close()
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })
})
