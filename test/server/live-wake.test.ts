import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { RunEvent } from '../../src/core/events.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { commitWake, LiveFeed, type CommitWake, type TailEvents } from '../../src/server/live-events.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import { CommitHooks } from '../../src/store/commit-hooks.js'
import type { Store } from '../../src/store/store.js'
import { workflow } from '../../src/workflows/builder.js'
import { liveStreamOfWorkerRun, readSse, type SseEvent } from '../helpers/sse.js'

interface Sse {
  id: string
  event: string
  runId: string
  /** The event's commit time (`at`) → its arrival here, in ms. */
  delayMs: number
}

const toSse = (e: SseEvent<{ runId: string; at: number }>): Sse => ({
  id: e.id,
  event: e.event,
  runId: e.data.runId,
  delayMs: e.receivedAt - e.data.at,
})

/** Reads server-sent events until `stop` says so or the stream ends. */
const readEvents = async (res: Response, stop: (e: Sse) => boolean): Promise<Sse[]> =>
  (await readSse<{ runId: string; at: number }>(res, (e) => stop(toSse(e)))).map(toSse)

describe('live streams wake on commits instead of waiting for the poll', () => {
  let backend: Backend
  let server: RunningServer
  let worker: Worker
  let admin = ''
  const headers = () => ({ authorization: `Bearer ${admin}` })
  const startRun = async () =>
    (
      (await (
        await fetch(`${server.url}/api/v1/workflows/pair/runs`, { method: 'POST', headers: headers() })
      ).json()) as { id: string }
    ).id

  beforeAll(async () => {
    backend = await openBackend('memory')
    const workflows = new WorkflowCatalog()
    workflows.add(
      workflow('pair')
        .task('a', { agent: 'echo3', input: 1 })
        .task('b', { agent: 'echo3', input: 2, dependsOn: ['a'] })
        .build(),
    )
    // A 10 s poll: with polling alone, nothing committed after a stream's first read would arrive within 1 s.
    server = await startServer({ backend, port: 0, workflows, livePollMs: 10_000, onAdminKey: (k) => (admin = k) })
    worker = new Worker({ backend })
    await worker.register(
      defineAgent({ name: 'echo3', handler: async (x: unknown) => (await new Promise((r) => setTimeout(r, 20)), x) }),
    )
    await worker.start()
  })
  afterAll(async () => {
    await worker.stop()
    await server.close()
    await backend.close()
  })

  it('delivers every event of a run started after the stream opened well within 1 s of its commit', async () => {
    const res = await fetch(`${server.url}/api/v1/events`, { headers: headers() })
    await new Promise((r) => setTimeout(r, 100)) // the stream's first read found nothing: it waits
    const started = Date.now()
    const id = await startRun()
    const events = await readEvents(res, (e) => e.event === 'run.succeeded' && e.runId === id)
    expect(Date.now() - started).toBeLessThan(3000)
    const mine = events.filter((e) => e.runId === id)
    expect(mine[0]?.event).toBe('run.started')
    expect(Math.max(...mine.map((e) => e.delayMs))).toBeLessThan(1000)
  })

  it('ends a run’s stream soon after its final event, and resumes from Last-Event-ID exactly', async () => {
    const id = await startRun()
    const started = Date.now()
    const all = await readEvents(
      await fetch(`${server.url}/api/v1/runs/${id}/live`, { headers: headers() }),
      () => false,
    )
    expect(Date.now() - started).toBeLessThan(3000)
    expect(all.at(-1)?.event).toBe('run.succeeded')
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length)
    const rest = await readEvents(
      await fetch(`${server.url}/api/v1/runs/${id}/live`, { headers: { ...headers(), 'last-event-id': all[1]!.id } }),
      () => false,
    )
    expect(rest.map((e) => e.id)).toEqual(all.slice(2).map((e) => e.id))
  })
})

describe('live streams on SQLite wake on the commit hooks', () => {
  it('ends a run’s stream (opened while its first task runs) within 3 s under a 10 s poll', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-live-'))
    const backend = await openBackend(`sqlite:${join(dir, 'live.db')}`)
    try {
      const { ms, events } = await liveStreamOfWorkerRun(backend, 'echo4')
      expect(ms).toBeLessThan(3000)
      expect(events.at(-1)).toBe('run.succeeded')
    } finally {
      await backend.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('startServer livePollMs', () => {
  it('is refused unless a number of ms a timer can wait', async () => {
    for (const livePollMs of [0, -1, Number.NaN, 2 ** 31])
      await expect(startServer({ store: 'memory', port: 0, livePollMs })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      })
  })
})

describe('LiveFeed wake-ups', () => {
  /** A tail over a growing log of run r1 that counts its reads (each takes 5 ms). */
  function source() {
    const events: { position: string; seq: number; event: RunEvent }[] = []
    let reads = 0
    const tail: TailEvents = async ({ after }) => {
      reads++
      await new Promise((r) => setTimeout(r, 5))
      const page = events.slice(after === undefined ? 0 : Number(after))
      return { events: page, next: page.at(-1)?.position ?? after ?? '' }
    }
    const add = (): void => {
      const seq = events.length + 1
      const event = { type: 'task.log', at: seq, runId: 'r1', taskId: 't', message: 'x' } as unknown as RunEvent
      events.push({ position: String(seq), seq, event })
    }
    let fire: (() => void) | undefined
    const wake: CommitWake = (w) => {
      fire = w
      return () => (fire = undefined)
    }
    return { tail, add, reads: () => reads, wake, fire: () => fire?.() }
  }
  const settled = async (p: Promise<void>, ms: number): Promise<boolean> =>
    Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])

  it('coalesces a burst of 1,000 commits into one wake-up and one more read', async () => {
    const s = source()
    const feed = new LiveFeed(s.tail, undefined, { wake: s.wake, pollMs: 10_000 })
    const signal = new AbortController().signal
    feed.open()
    let generation = feed.generation
    const reading = feed.read(undefined, 'r1')
    for (let i = 0; i < 1000; i++) {
      s.add()
      s.fire()
    }
    const first = await reading
    expect(await settled(feed.wait(generation, signal), 100)).toBe(true) // one wake-up for the burst: read again
    generation = feed.generation
    const second = await feed.read(first.next, 'r1')
    expect(first.frames.length + second.frames.length).toBe(1000)
    expect(s.reads()).toBe(2)
    const waiting = feed.wait(generation, signal)
    expect(await settled(waiting, 50)).toBe(false) // nothing new: it waits (the poll is 10 s)
    s.add()
    s.fire()
    expect(await settled(waiting, 100)).toBe(true)
    expect(s.reads()).toBe(2)
    generation = feed.generation
    s.add()
    s.fire()
    await new Promise((r) => setTimeout(r, 60)) // woken while (say) writing: the next wait returns at once
    expect(await settled(feed.wait(generation, signal), 5)).toBe(true)
    generation = feed.generation
    feed.close()
    s.add()
    s.fire() // unsubscribed: no effect
    expect(feed.generation).toBe(generation)
  })

  it('retires a shared end-of-log page on a wake-up, and keeps it without one', async () => {
    const s = source()
    const feed = new LiveFeed(s.tail, undefined, { wake: s.wake })
    feed.open()
    await feed.read(undefined, 'r1')
    await feed.read(undefined, 'r1')
    expect(s.reads()).toBe(1)
    s.add()
    s.fire()
    await new Promise((r) => setTimeout(r, 40)) // the wake-up comes 25 ms after the commit
    expect((await feed.read(undefined, 'r1')).frames).toHaveLength(1)
    expect(s.reads()).toBe(2)
    const aborted = new AbortController()
    const waiting = feed.wait(feed.generation, aborted.signal)
    aborted.abort()
    expect(await settled(waiting, 50)).toBe(true)
    feed.close()
  })

  it('commitWake: the memory store’s appends, and commit hooks once a commit with events is durable', async () => {
    const backend = await openBackend('memory')
    let woken = 0
    const stop = commitWake(backend.store)!(() => woken++)
    const client = await Client.connect(backend.store)
    await client.start(workflow('w').task('a', { agent: 'x' }).build())
    expect(woken).toBeGreaterThan(0)
    stop()
    const before = woken
    await client.start(workflow('w').task('a', { agent: 'x' }).build())
    expect(woken).toBe(before)
    await client.close()
    await backend.close()

    const hooks = new CommitHooks()
    const wake = commitWake({ commits: hooks } as unknown as Store)!
    let n = 0
    const unsubscribe = wake(() => n++)
    const info = { system: 'sqlite', operation: 'commit', ops: 1, runIds: ['r'] } as const
    hooks.start({ ...info, events: 0 })()
    hooks.start({ ...info, events: 2 })(new Error('rolled back'))
    expect(n).toBe(0)
    hooks.start({ ...info, events: 2 })()
    expect(n).toBe(1)
    unsubscribe()
    expect(hooks.active).toBe(false)
  })
})
