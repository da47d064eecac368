import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { AgentScaledEvent } from '../../src/core/events.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { openStoreAsync } from '../../src/store/open-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

// A `flotilla worker` (Worker) scales an agent registered with `scaling` from the attempts waiting for it in the
// shared queue: instances added for a burst (so the worker claims more at once), idle ones removed after the
// cooldown, each change an `agent.scaled` event, never outside [min, max] in each worker.

const SCALING = { min: 1, max: 4, maxWaitMs: 100, cooldownMs: 300 }

/** A worker whose agent `ocr` (one task at a time per instance, ~50 ms each) is scaled; what it saw. */
function scaledWorker(store: Store | string, id: string, concurrency?: number) {
  const seen = { active: 0, most: 0, ran: 0, events: [] as AgentScaledEvent[] }
  const ocr = defineAgent({
    name: 'ocr',
    maxConcurrency: 1,
    scaling: SCALING,
    handler: async () => {
      seen.most = Math.max(seen.most, ++seen.active)
      await new Promise((r) => setTimeout(r, 50))
      seen.active--
      seen.ran++
      return 'text'
    },
  })
  const worker = new Worker({ store, id, leaseMs: 3000, pollMs: 20, concurrency })
  worker.on('agent.scaled', (e) => void seen.events.push(e))
  const instances = (): number =>
    worker.registry.instances().filter((i) => i.definition.name === 'ocr' && i.state !== 'STOPPED').length
  return { worker, seen, instances, register: () => worker.register(ocr) }
}

const pages = (n: number) => ({
  name: 'pages',
  tasks: Array.from({ length: n }, (_, i) => ({ id: `page${i}`, agent: 'ocr' })),
})

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** Every event within [min, max]; a scale-up from 1 first; back to 1 (an idle instance removed) last. */
function expectGrewAndShrank(events: readonly AgentScaledEvent[]): void {
  expect(events.length).toBeGreaterThanOrEqual(2)
  for (const e of events) {
    expect(e.agent).toBe('ocr')
    expect(e.to).toBeGreaterThanOrEqual(SCALING.min)
    expect(e.to).toBeLessThanOrEqual(SCALING.max)
  }
  expect(events[0]).toMatchObject({ from: 1 })
  expect(events[0].to).toBeGreaterThan(1)
  expect(events[0].reason).toMatch(/attempts waiting/)
  expect(events.at(-1)).toMatchObject({ to: 1 })
  expect(events.at(-1)!.reason).toMatch(/idle for \d+ ms/)
}

let root: string | undefined
afterEach(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true })
  root = undefined
})

describe('auto-scaling in a worker, from the shared queue (SQLite)', () => {
  it('grows above min for a burst of 20 tasks, then shrinks back to min once idle', async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-worker-scaling-'))
    const store = SqliteStore.open({ path: join(root, 'w.db') })
    const w = scaledWorker(store, 'w-scale')
    try {
      expect(await w.register()).toHaveLength(1)
      await w.worker.start()
      const client = await Client.connect(store)
      const runId = await client.start(pages(20))
      expect((await client.result(runId, { timeoutMs: 30_000 })).state).toBe('SUCCEEDED')
      expect(w.seen.ran).toBe(20)
      // More than one instance ran at once: the worker claimed more as it grew.
      expect(w.seen.most).toBeGreaterThan(1)
      expect(w.seen.most).toBeLessThanOrEqual(SCALING.max)
      await until('the instances to shrink back to 1', () => w.instances() === 1)
      expectGrewAndShrank(w.seen.events)
      // And it stays at min: no change while idle.
      const changes = w.seen.events.length
      await new Promise((r) => setTimeout(r, 600))
      expect(w.seen.events).toHaveLength(changes)
      expect(w.instances()).toBe(1)
    } finally {
      await w.worker.stop({ drainMs: 1000 })
      await store.close()
    }
  }, 60_000)

  it('grows only as far as the worker can run attempts at once (its concurrency), saying why', async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-worker-scaling-'))
    const store = SqliteStore.open({ path: join(root, 'w.db') })
    const w = scaledWorker(store, 'w-two', 2)
    try {
      await w.register()
      await w.worker.start()
      const client = await Client.connect(store)
      const runId = await client.start(pages(20))
      expect((await client.result(runId, { timeoutMs: 30_000 })).state).toBe('SUCCEEDED')
      await until('the instances to shrink back to 1', () => w.instances() === 1)
      const up = w.seen.events[0]
      expect(up).toMatchObject({ from: 1, to: 2 })
      expect(up.wanted).toBeGreaterThan(2)
      expect(up.reason).toMatch(/the worker runs at most 2 attempts at once \(concurrency\)/)
      expect(Math.max(...w.seen.events.map((e) => e.to))).toBe(2)
      expect(w.seen.most).toBe(2)
    } finally {
      await w.worker.stop({ drainMs: 1000 })
      await store.close()
    }
  }, 60_000)
})

await describePostgres('auto-scaling in workers, from the shared queue (PostgreSQL)', () => {
  it('two workers on one store each grow for a burst (max is per worker) and shrink back to min', async () => {
    await withFreshSchema(async (url) => {
      const a = scaledWorker(url, 'w-a')
      const b = scaledWorker(url, 'w-b')
      const store = await openStoreAsync(url)
      try {
        await a.register()
        await b.register()
        await a.worker.start()
        await b.worker.start()
        const client = await Client.connect(store)
        const runId = await client.start(pages(40))
        expect((await client.result(runId, { timeoutMs: 30_000 })).state).toBe('SUCCEEDED')
        expect(a.seen.ran + b.seen.ran).toBe(40)
        await until('both workers to shrink back to 1', () => a.instances() === 1 && b.instances() === 1)
        // Both read the same waiting attempts, so both scaled up, each within its own max.
        expectGrewAndShrank(a.seen.events)
        expectGrewAndShrank(b.seen.events)
        expect(a.seen.ran).toBeGreaterThan(0)
        expect(b.seen.ran).toBeGreaterThan(0)
      } finally {
        await a.worker.stop({ drainMs: 1000 })
        await b.worker.stop({ drainMs: 1000 })
        await store.close()
      }
    })
  }, 60_000)
})
