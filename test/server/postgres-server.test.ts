import { expect, it } from 'vitest'
import { openBackend } from '../../src/orchestrator/backend.js'
import { startServer } from '../../src/server/serve.js'
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
