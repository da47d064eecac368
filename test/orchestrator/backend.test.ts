import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { ContextStore } from '../../src/context/context-store.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Client } from '../../src/orchestrator/client.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { workflow } from '../../src/workflows/builder.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

// openBackend(url): one URL configures the store, its queue, the context
// backend and (PostgreSQL) the bus, so agents' artifacts and messages are
// shared by every process on the same database.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-backend-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** An agent that writes an artifact and sends a message. */
const writer = defineAgent({
  name: 'writer',
  permissions: [
    { resource: 'artifact:notes', actions: ['write'] },
    { resource: 'agent:reader', actions: ['send'] },
  ],
  handler: async (input: { text: string }, ctx) => {
    const a = await ctx.artifacts.put('notes', { text: input.text })
    await ctx.send('reader', { note: input.text })
    return { version: a.version }
  },
})

/** The addressee: an in-process bus delivers only to agents it knows. */
const reader = defineAgent({ name: 'reader', handler: (x: unknown) => x })

const job = workflow('write')
  .task('w', { agent: 'writer', input: { text: 'hello' } })
  .build()

/** What another process opening the same URL sees: the artifact the run wrote. */
async function artifactSeenFrom(backend: Backend): Promise<unknown> {
  const context = new ContextStore(backend.context)
  return (await context.get('someone', 'notes')).content
}

describe('openBackend', () => {
  it('memory: everything in this process; the orchestrator runs agents that use artifacts and messages', async () => {
    const backend = await openBackend('memory')
    expect(backend).toMatchObject({ kind: 'memory', target: 'memory', bus: undefined, queue: undefined })
    const o = new Orchestrator({ backend })
    await o.registerAll([writer, reader])
    const result = await o.run(job)
    expect(result.state).toBe('SUCCEEDED')
    expect(await artifactSeenFrom(backend)).toEqual({ text: 'hello' })
    await o.close()
    await backend.close() // idempotent: the orchestrator closed it already
  })

  it('sqlite: artifacts live in the store file, seen by another backend on it', async () => {
    const path = join(dir, 'one.db')
    const o = await Orchestrator.open(`sqlite:${path}`)
    await o.registerAll([writer, reader])
    expect((await o.run(job)).state).toBe('SUCCEEDED')
    await o.close()
    const again = await openBackend(path)
    expect(again.kind).toBe('sqlite')
    expect(again.queue).toBeDefined()
    expect(await artifactSeenFrom(again)).toEqual({ text: 'hello' })
    expect((await again.store.listRuns()).map((r) => r.workflow)).toEqual(['write'])
    await again.close()
  })

  it('a worker opened from a URL gives its agents artifacts and messages (they were unavailable before)', async () => {
    const url = `sqlite:${join(dir, 'worker.db')}`
    const worker = new Worker({ store: url, leaseMs: 3_000 })
    await worker.register(writer)
    await worker.register(reader)
    await worker.start()
    const client = await Client.connect(url)
    try {
      const id = await client.start(job)
      const result = await client.result(id, { timeoutMs: 20_000 })
      expect(result.state).toBe('SUCCEEDED')
    } finally {
      await client.close()
      await client.store.close()
      await worker.stop({ drainMs: 1_000 })
    }
    const backend = await openBackend(url)
    expect(await artifactSeenFrom(backend)).toEqual({ text: 'hello' })
    await backend.close()
  }, 30_000)

  it('refuses a malformed URL with STORE_URL_INVALID, and a backend with a store', async () => {
    await expect(openBackend('mysql://x/y')).rejects.toMatchObject({ code: 'STORE_URL_INVALID' })
    const backend = await openBackend('memory')
    expect(() => new Orchestrator({ backend, store: 'memory' })).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining('either a backend or a store'),
      }),
    )
    expect(() => new Worker({ backend, store: 'memory' })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    )
    await backend.close()
  })
})

await describePostgres('openBackend on PostgreSQL', () => {
  it('one pool serves store, queue, context and bus: a message and an artifact cross to another backend', async () => {
    await withFreshSchema(async (url) => {
      const a = await openBackend(url, { postgres: { poolSize: 4 } })
      const b = await openBackend(url)
      try {
        expect(a.kind).toBe('postgres')
        expect(a.target).not.toContain('@127.0.0.1:5432/test?')
        expect(a.bus).toBeDefined()
        const o = new Orchestrator({ backend: a })
        await o.register(writer)
        expect((await o.run(job)).state).toBe('SUCCEEDED')
        // The other backend (another process, in production) sees both.
        expect(await artifactSeenFrom(b)).toEqual({ text: 'hello' })
        const [msg] = await b.bus!.receive('reader')
        expect(msg).toMatchObject({ from: 'writer', body: { note: 'hello' } })
        await o.close()
        // Closing the orchestrator closed the whole backend: store, context and bus.
        await expect(a.store.getRun('run_x' as never)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(a.context.head('notes')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(a.bus!.receive('reader')).rejects.toBeDefined()
      } finally {
        await a.close()
        await b.close()
      }
    })
  }, 30_000)
})
