import { describe, expect, it } from 'vitest'
import type { RunEvent } from '../../src/core/events.js'
import { LiveFeed, type EventPage, type TailEvents } from '../../src/server/live-events.js'

/** A log of `n` events of run r1 and a tail over it that counts its calls. */
function log(n: number): { tail: TailEvents; calls: () => number; grow: (k: number) => void } {
  const events: EventPage['events'][number][] = []
  const grow = (k: number): void => {
    for (let i = 0; i < k; i++) {
      const seq = events.length + 1
      const event = {
        type: 'task.log',
        at: seq,
        runId: 'r1',
        taskId: 't',
        message: `line ${seq}`,
      } as unknown as RunEvent
      events.push({ position: String(seq), seq, event })
    }
  }
  grow(n)
  let calls = 0
  const tail: TailEvents = async ({ after, limit = 1000 }) => {
    calls++
    await new Promise((r) => setTimeout(r, 5))
    const from = after === undefined ? 0 : Number(after)
    const page = events.slice(from, from + limit)
    return { events: page, next: page.at(-1)?.position ?? after ?? '' }
  }
  return { tail, calls: () => calls, grow }
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

describe('LiveFeed: the pages live streams read, shared', () => {
  it('reads the store once for 100 streams at the same position and encodes each event once', async () => {
    const { tail, calls } = log(50)
    const feed = new LiveFeed(tail)
    const pages = await Promise.all(Array.from({ length: 100 }, () => feed.read(undefined, 'r1')))
    expect(calls()).toBe(1)
    expect(new Set(pages).size).toBe(1)
    const page = pages[0]!
    expect(page.frames).toHaveLength(50)
    expect(page.next).toBe('50')
    // As hono's writeSSE writes it: event, data, id, a blank line.
    expect(text(page.frames[0]!.bytes)).toBe(
      `event: task.log\ndata: ${JSON.stringify({ type: 'task.log', at: 1, runId: 'r1', taskId: 't', message: 'line 1' })}\nid: 1\n\n`,
    )
    expect(text(page.all)).toBe(page.frames.map((f) => text(f.bytes)).join(''))
  })

  it('reuses a page at the end of the log only briefly, so new events reach every stream', async () => {
    let now = 0
    const { tail, calls, grow } = log(3)
    const feed = new LiveFeed(tail, () => now)
    expect((await feed.read('3', 'r1')).frames).toHaveLength(0)
    grow(2)
    now += 50
    expect((await feed.read('3', 'r1')).frames).toHaveLength(0) // the same read, 50 ms later
    now += 100
    const fresh = await feed.read('3', 'r1')
    expect(fresh.frames.map((f) => text(f.bytes).split('\n')[2])).toEqual(['id: 4', 'id: 5'])
    expect(calls()).toBe(2)
  })

  it('keeps a full page longer (a replay read by many), and reads again after a failed read', async () => {
    let now = 0
    const { tail, calls } = log(450)
    const feed = new LiveFeed(tail, () => now)
    const first = await feed.read(undefined, 'r1')
    expect(first.frames).toHaveLength(200)
    await new Promise((r) => setTimeout(r, 0))
    now += 5_000
    expect(await feed.read(undefined, 'r1')).toBe(first)
    expect(calls()).toBe(1)
    let fail = true
    const flaky = new LiveFeed(async (o) => {
      if (fail) throw new Error('store down')
      return tail(o)
    })
    await expect(flaky.read(undefined, undefined)).rejects.toThrow('store down')
    fail = false
    expect((await flaky.read(undefined, undefined)).frames).toHaveLength(200)
  })
})
