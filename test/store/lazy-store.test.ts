import { asAgentId } from '../../src/core/ids.js'
import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { FlotillaError } from '../../src/core/errors.js'
import type { RunId } from '../../src/core/ids.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { LazyStore } from '../../src/store/lazy-store.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { openStore, openStoreAsync } from '../../src/store/open-store.js'
import type { Store } from '../../src/store/store.js'
import { workflow } from '../../src/workflows/builder.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

/** Runs `fn` with FLOTILLA_STORE set to `value`, then restores it. */
async function withStoreEnv<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.FLOTILLA_STORE
  process.env.FLOTILLA_STORE = value
  try {
    return await fn()
  } finally {
    if (before === undefined) delete process.env.FLOTILLA_STORE
    else process.env.FLOTILLA_STORE = before
  }
}

const UNREACHABLE = 'postgres://postgres:secret@127.0.0.1:1/none'

describe('LazyStore', () => {
  it('opens nothing until the first call, then delegates every call to the one store it opened', async () => {
    const inner = new MemoryStore()
    let opened = 0
    const lazy = new LazyStore(
      async () => {
        opened++
        return inner
      },
      { kind: 'memory', durable: false, target: 'test' },
    )
    expect([lazy.kind, lazy.durable, opened, lazy.connected]).toEqual(['memory', false, 0, undefined])
    const [runs, agents] = await Promise.all([lazy.listRuns(), lazy.listAgents()])
    expect([runs, agents, opened]).toEqual([[], [], 1])
    expect(lazy.connected).toBe(inner)
    expect(await lazy.getRun('run_none' as RunId)).toBeUndefined()
    expect(await lazy.pruneRuns(0)).toBe(0)
    expect(opened).toBe(1)
    const queue = lazy.queue()
    expect(lazy.queue()).toBe(queue)
    expect(await queue.listWorkers(0)).toEqual([])
    expect(queue.kind).toBe('memory')
  })

  it('its queue connects like the store: a failure rejects the call, wait() still resolves', async () => {
    const lazy = new LazyStore(() => Promise.reject(new Error('ECONNREFUSED')), {
      kind: 'postgres',
      target: 'postgres://h/db',
    })
    const queue = lazy.queue()
    await expect(queue.runHolder('run_x' as RunId)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await expect(queue.wait(5)).resolves.toBeUndefined()
    await lazy.close()
    await expect(queue.listWorkers(0)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/closed/),
    })
  })

  it('close() before first use opens nothing; later calls fail with STORE_UNAVAILABLE', async () => {
    let opened = 0
    const lazy = new LazyStore(
      async () => {
        opened++
        return new MemoryStore()
      },
      { kind: 'postgres', target: 'postgres://h/db' },
    )
    await lazy.close()
    await lazy.close()
    expect(opened).toBe(0)
    await expect(lazy.listRuns()).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/closed/),
    })
    expect(opened).toBe(0)
  })

  it('close() during the connection closes the store once connected', async () => {
    let release!: (s: Store) => void
    const inner = new MemoryStore()
    let closed = 0
    const close = inner.close.bind(inner)
    inner.close = async () => {
      closed++
      await close()
    }
    const lazy = new LazyStore(() => new Promise<Store>((resolve) => (release = resolve)), {
      kind: 'memory',
      target: 'test',
    })
    const call = lazy.listRuns()
    const closing = lazy.close()
    release(inner)
    await closing
    expect(closed).toBe(1)
    await expect(call).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
  })

  it('a failed connection rejects the call with STORE_UNAVAILABLE; the next call tries again', async () => {
    let attempts = 0
    const lazy = new LazyStore(
      async () => {
        if (++attempts === 1) throw new Error('ECONNREFUSED')
        return new MemoryStore()
      },
      { kind: 'postgres', target: 'postgres://h/db' },
    )
    await expect(lazy.listRuns()).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringContaining('ECONNREFUSED'),
    })
    expect(await lazy.listRuns()).toEqual([])
    expect(attempts).toBe(2)
    const typed = new LazyStore(() => Promise.reject(new FlotillaError('STORE_SCHEMA_TOO_NEW', 'newer')), {
      kind: 'postgres',
      target: 'x',
    })
    await expect(typed.getAgent(asAgentId('a'))).rejects.toMatchObject({ code: 'STORE_SCHEMA_TOO_NEW' })
  })
})

describe('openStore with a postgres URL', () => {
  it.each(['postgres://u:secret@127.0.0.1:5432/db', 'postgresql://127.0.0.1/db', 'POSTGRES://host/db'])(
    'gives a lazy store for %s, connecting nothing',
    async (url) => {
      const store = openStore(url)
      expect(store).toBeInstanceOf(LazyStore)
      expect([store.kind, store.durable]).toEqual(['postgres', true])
      await store.close()
    },
  )

  it('new Orchestrator() with FLOTILLA_STORE pointing at an unreachable server: the first run fails with STORE_UNAVAILABLE', async () => {
    await withStoreEnv(UNREACHABLE, async () => {
      const o = new Orchestrator()
      try {
        await o.register(defineAgent({ name: 'lazy-one', handler: () => 1 }))
        const err = await o.run(workflow('lazy-unreachable').task('t', { agent: 'lazy-one' }).build()).then(
          (r) => r.error,
          (e: unknown) => e,
        )
        expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' })
        expect((err as Error).message).not.toContain('secret')
      } finally {
        await o.close()
      }
    })
  })
})

await describePostgres('new Orchestrator() with FLOTILLA_STORE=postgres://…', () => {
  it('connects on first use and runs a workflow stored in PostgreSQL', async () => {
    await withFreshSchema(async (url) => {
      const runId = await withStoreEnv(url, async () => {
        const o = new Orchestrator()
        try {
          expect(o.store.kind).toBe('postgres')
          await o.register(defineAgent({ name: 'lazy-double', handler: (x: number) => x * 2 }))
          const result = await o.run(workflow('lazy-pg').task('t', { agent: 'lazy-double', input: 21 }).build())
          expect(result.state).toBe('SUCCEEDED')
          expect(result.output('t')).toBe(42)
          expect(await o.store.queue?.().listWorkers(0)).toEqual([])
          return result.runId
        } finally {
          await o.close()
        }
      })
      const check = await openStoreAsync(url)
      try {
        expect(await check.getRun(runId as RunId)).toMatchObject({ state: 'SUCCEEDED', workflow: 'lazy-pg' })
        expect((await check.getTasks(runId as RunId))[0]).toMatchObject({ state: 'SUCCEEDED', output: 42 })
      } finally {
        await check.close()
      }
    })
  })
})
