import { expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { openBackend } from '../../src/orchestrator/backend.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { startServer } from '../../src/server/serve.js'
import { workflow } from '../../src/workflows/builder.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

/** The event types of a server-sent event stream, read to its end. */
async function eventTypes(res: Response): Promise<string[]> {
  const text = await res.text()
  return text
    .split('\n')
    .filter((l) => l.startsWith('event: '))
    .map((l) => l.slice(7))
}

// A worker in the server's process on PostgreSQL: its commits (the store's
// commit hooks: the coordinator's commits and the queue's group commits of
// results) wake the live streams; the 10 s poll would not be in time.
await describePostgres('live streams on PostgreSQL', () => {
  it('wake on the commits of a worker in the same process', async () => {
    await withFreshSchema(async (url) => {
      const backend = await openBackend(url)
      let admin = ''
      const server = await startServer({ backend, port: 0, livePollMs: 10_000, onAdminKey: (k) => (admin = k) })
      const worker = new Worker({ backend })
      try {
        await worker.register(
          defineAgent({
            name: 'pg-echo',
            handler: async (x: unknown) => (await new Promise((r) => setTimeout(r, 300)), x),
          }),
        )
        await worker.start()
        const client = await Client.connect(backend.store)
        const id = await client.start(
          workflow('pgw')
            .task('a', { agent: 'pg-echo', input: 1 })
            .task('b', { agent: 'pg-echo', input: 2, dependsOn: ['a'] })
            .build(),
        )
        const started = Date.now()
        const res = await fetch(`${server.url}/api/v1/runs/${id}/live`, {
          headers: { authorization: `Bearer ${admin}` },
        })
        const types = await eventTypes(res)
        expect(Date.now() - started).toBeLessThan(4000)
        expect(types.at(-1)).toBe('run.succeeded')
        await client.close()
      } finally {
        await worker.stop()
        await server.close()
        await backend.close()
      }
    })
  })
})
