import { expect, it } from 'vitest'
import { openBackend } from '../../src/orchestrator/backend.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'
import { liveStreamOfWorkerRun } from '../helpers/sse.js'

// A worker in the server's process on PostgreSQL: its commits (the store's
// commit hooks: the coordinator's commits and the queue's group commits of
// results) wake the live streams; the 10 s poll would not be in time.
await describePostgres('live streams on PostgreSQL', () => {
  it('wake on the commits of a worker in the same process', async () => {
    await withFreshSchema(async (url) => {
      const backend = await openBackend(url)
      try {
        const { ms, events } = await liveStreamOfWorkerRun(backend, 'pg-echo')
        expect(ms).toBeLessThan(4000)
        expect(events.at(-1)).toBe('run.succeeded')
      } finally {
        await backend.close()
      }
    })
  })
})
