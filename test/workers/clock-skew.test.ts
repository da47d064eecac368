import { expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { systemClock, type Clock } from '../../src/core/clock.js'
import { openBackend } from '../../src/orchestrator/backend.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

// Leases are written with one worker's clock and compared with another's: a
// worker whose clock is far off the database's refuses to start, with a code
// and a message that say what to do.

const noop = defineAgent({ name: 'noop', handler: () => null })
const shifted = (ms: number): Clock => ({ ...systemClock, wallNow: () => Date.now() + ms })

await describePostgres('worker clock against the PostgreSQL clock', () => {
  it('a worker 20 s ahead with 15 s leases is refused (WORKER_CLOCK_SKEW); 1 s off starts', async () => {
    await withFreshSchema(async (url) => {
      const backend = await openBackend(url)
      try {
        const ahead = new Worker({ backend, id: 'ahead', clock: shifted(20_000) })
        await ahead.register(noop)
        const refused = await ahead.start().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(refused).toMatchObject({ code: 'WORKER_CLOCK_SKEW', details: { worker: 'ahead', leaseMs: 15_000 } })
        expect((refused as Error).message).toMatch(/\d+ ms ahead of the store's.*Synchronise this host's clock/)
        expect(Math.abs((refused as { details: { skewMs: number } }).details.skewMs - 20_000)).toBeLessThan(1000)
        expect(await backend.store.queue!(systemClock).listWorkers(0)).toEqual([]) // it never joined the catalog
        const close = new Worker({ backend, id: 'close', clock: shifted(-1000) })
        await close.register(noop)
        await close.start()
        await close.stop()
      } finally {
        await backend.close()
      }
    })
  })
})
