import { afterEach, describe, expect, it } from 'vitest'
import { isFlotillaError } from '../core/errors.js'
import { FakeClock } from '../core/fake-clock.js'
import type { Bus, BusEvent, WaitForMailOptions } from '../messaging/bus.js'

/** What the contract hands an adapter factory. */
export interface BusContractOptions {
  /** The clock the adapter must use for visibility and request timeouts. */
  clock: FakeClock
  /** Deliveries before dead-lettering (the suite passes 3). */
  maxDeliveries: number
  /** Largest payload in bytes (the suite passes 1024). */
  maxPayloadBytes: number
  /** Names the adapter must refuse with AGENT_NOT_FOUND are those this returns false for. */
  isKnownAgent: (agent: string) => boolean
}

/** How a Bus adapter is made and torn down for the contract suite. */
export interface BusContractInit {
  /** Adapter name shown in the suite title. */
  name: string
  /** Makes a fresh, empty bus using the given options. */
  create(options: BusContractOptions): Promise<Bus>
  /** Releases what `create` made (after `close`). */
  destroy?(bus: Bus): Promise<void>
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return isFlotillaError(err) ? err.code : `not a FlotillaError: ${String(err)}`
  }
  return 'resolved'
}

/** The shared behaviour every Bus adapter must show. */
export function busContract(init: BusContractInit): void {
  describe(`Bus contract: ${init.name}`, () => {
    let clock: FakeClock
    let bus: Bus
    const make = async (): Promise<Bus> => {
      clock = new FakeClock()
      bus = await init.create({
        clock,
        maxDeliveries: 3,
        maxPayloadBytes: 1024,
        isKnownAgent: (a) => !a.startsWith('ghost'),
      })
      return bus
    }
    afterEach(async () => {
      await bus.close()
      await init.destroy?.(bus)
    })

    it('sends, receives with metadata, and ack removes the message', async () => {
      await make()
      const id = await bus.send('b', { n: 1 }, { from: 'a', headers: { trace: 't1' } })
      const [m, ...rest] = await bus.receive('b', { visibilityTimeoutMs: 100 })
      expect(rest).toEqual([])
      expect(m).toMatchObject({ id, from: 'a', to: 'b', body: { n: 1 }, headers: { trace: 't1' }, attempt: 1 })
      expect(typeof m!.sentAt).toBe('number')
      expect(await bus.ack('b', id)).toBe(true)
      expect(await bus.ack('b', id)).toBe(false)
      await clock.advance(1000)
      expect(await bus.receive('b')).toEqual([])
    })

    it('hides a received message and redelivers it after the visibility timeout', async () => {
      await make()
      const id = await bus.send('b', 'hello', { from: 'a' })
      await bus.receive('b', { visibilityTimeoutMs: 100 })
      expect(await bus.receive('b', { visibilityTimeoutMs: 100 })).toEqual([])
      await clock.advance(99)
      expect(await bus.receive('b', { visibilityTimeoutMs: 100 })).toEqual([])
      await clock.advance(1)
      const [again] = await bus.receive('b', { visibilityTimeoutMs: 100 })
      expect(again).toMatchObject({ id, body: 'hello', attempt: 2 })
    })

    it('dead-letters after maxDeliveries and replays a dead letter', async () => {
      await make()
      const id = await bus.send('b', { job: 7 }, { from: 'a' })
      for (let i = 1; i <= 3; i++) {
        const got = await bus.receive('b', { visibilityTimeoutMs: 10 })
        expect(got.map((m) => m.attempt)).toEqual([i])
        await clock.advance(10)
      }
      expect(await bus.receive('b')).toEqual([])
      const dead = await bus.deadLetters('b')
      expect(dead).toHaveLength(1)
      expect(dead[0]).toMatchObject({ id, from: 'a', body: { job: 7 }, attempt: 3 })
      expect(dead[0]!.reason).toMatch(/3/)
      expect(await bus.replayDeadLetter('b', 'nope')).toBe(false)
      expect(await bus.replayDeadLetter('b', id)).toBe(true)
      expect(await bus.deadLetters('b')).toEqual([])
      const [back] = await bus.receive('b')
      expect(back).toMatchObject({ id, body: { job: 7 }, attempt: 1 })
    })

    it('keeps order per sender–receiver pair, also across redelivery', async () => {
      await make()
      for (let i = 0; i < 5; i++) {
        await bus.send('b', { a: i }, { from: 'a' })
        await bus.send('b', { c: i }, { from: 'c' })
      }
      const first = await bus.receive('b', { max: 3, visibilityTimeoutMs: 50 })
      expect(first.map((m) => m.body)).toEqual([{ a: 0 }, { c: 0 }, { a: 1 }])
      // a0 stays leased, so a's later messages wait; c0 is acked, so c's continue in order.
      await bus.ack('b', first[1]!.id)
      const next = await bus.receive('b', { max: 10, visibilityTimeoutMs: 50 })
      expect(next.map((m) => m.body)).toEqual([{ c: 1 }, { c: 2 }, { c: 3 }, { c: 4 }])
      await bus.ack('b', first[0]!.id)
      await clock.advance(50)
      const after = await bus.receive('b', { max: 10 })
      const fromA = after.filter((m) => m.from === 'a').map((m) => m.body)
      expect(fromA).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }, { a: 4 }])
    })

    it('delivers events by type, wildcard and filters on fields and publisher', async () => {
      await make()
      const seen: Record<string, BusEvent[]> = { all: [], progress: [], failed: [], fromA: [] }
      await bus.subscribe('*', undefined, (e) => void seen.all!.push(e))
      await bus.subscribe('progress', {}, (e) => void seen.progress!.push(e))
      await bus.subscribe(
        'status_change',
        { where: { 'status.state': 'FAILED', kind: 'task' } },
        (e) => void seen.failed!.push(e),
      )
      const sub = await bus.subscribe('progress', { from: ['a'] }, (e) => void seen.fromA!.push(e))
      await bus.publish('progress', { pct: 10 }, { from: 'a' })
      await bus.publish('progress', { pct: 20 }, { from: 'b' })
      await bus.publish('status_change', { kind: 'task', status: { state: 'FAILED' } }, { from: 'a' })
      await bus.publish('status_change', { kind: 'task', status: { state: 'DONE' } }, { from: 'a' })
      await bus.publish('status_change', { kind: 'run', status: 'FAILED' }, { from: 'a' })
      await sub.unsubscribe()
      await bus.publish('progress', { pct: 30 }, { from: 'a' })
      await clock.advance(0)
      expect(seen.all!.map((e) => e.type)).toEqual([
        'progress',
        'progress',
        'status_change',
        'status_change',
        'status_change',
        'progress',
      ])
      expect(seen.progress!.map((e) => e.data)).toEqual([{ pct: 10 }, { pct: 20 }, { pct: 30 }])
      expect(seen.failed!.map((e) => e.from)).toEqual(['a'])
      expect(seen.fromA!.map((e) => e.data)).toEqual([{ pct: 10 }])
      expect(seen.all![0]).toMatchObject({ type: 'progress', from: 'a', data: { pct: 10 } })
    })

    it('refuses invalid filters and event types with VALIDATION_FAILED', async () => {
      await make()
      const h = (): void => undefined
      for (const bad of [
        { where: { 'a..b': 1 } },
        { where: { a: { nested: 1 } } },
        { from: '' },
        { from: [] },
        { role: 'x' },
        'x',
      ]) {
        expect(await codeOf(bus.subscribe('progress', bad as never, h))).toBe('VALIDATION_FAILED')
      }
      expect(await codeOf(bus.subscribe('', undefined, h))).toBe('VALIDATION_FAILED')
      expect(await codeOf(bus.publish('*', {}, { from: 'a' }))).toBe('VALIDATION_FAILED')
    })

    it('answers a request with the reply, and times out with TASK_TIMEOUT', async () => {
      await make()
      await bus.onRequest('specialist', (req) => ({ echo: req.body, from: req.from }))
      expect(await bus.request('specialist', { q: 1 }, { timeoutMs: 100, from: 'analyst' })).toEqual({
        echo: { q: 1 },
        from: 'analyst',
      })
      const pending = codeOf(bus.request('silent', 'hi', { timeoutMs: 100 }))
      await clock.advance(100)
      expect(await pending).toBe('TASK_TIMEOUT')
    })

    it('answers a request queued before the responder registered, and reports handler errors', async () => {
      await make()
      const early = bus.request('late', 2, { timeoutMs: 100 })
      await clock.advance(50)
      await bus.onRequest('late', (req) => (req.body as number) * 21)
      expect(await early).toBe(42)
      await bus.onRequest('broken', () => {
        throw new Error('boom')
      })
      expect(await codeOf(bus.request('broken', 1, { timeoutMs: 100 }))).toBe('TASK_FAILED')
      expect(await codeOf(bus.request('x', 1, { timeoutMs: 0 }))).toBe('VALIDATION_FAILED')
    })

    it('broadcasts to a list of agents, all or none', async () => {
      await make()
      const ids = await bus.broadcast(['x', 'y', 'z'], { note: 'hi' }, { from: 'lead' })
      expect(ids).toHaveLength(3)
      for (const [i, agent] of ['x', 'y', 'z'].entries()) {
        expect(await bus.receive(agent)).toMatchObject([{ id: ids[i], from: 'lead', to: agent, body: { note: 'hi' } }])
      }
      expect(await codeOf(bus.broadcast(['p', 'ghost-1'], 'x'))).toBe('AGENT_NOT_FOUND')
      expect(await bus.receive('p')).toEqual([])
    })

    it('refuses unknown agents, bad payloads and oversized payloads with typed errors', async () => {
      await make()
      expect(await codeOf(bus.send('ghost', 1))).toBe('AGENT_NOT_FOUND')
      expect(await codeOf(bus.request('ghost', 1, { timeoutMs: 10 }))).toBe('AGENT_NOT_FOUND')
      expect(await codeOf(bus.send('', 1))).toBe('VALIDATION_FAILED')
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      for (const bad of [undefined, () => 1, 10n, Number.NaN, { d: new Date() }, cyclic, 'x'.repeat(2000)]) {
        expect(await codeOf(bus.send('b', bad))).toBe('VALIDATION_FAILED')
      }
      expect(await codeOf(bus.publish('progress', 'x'.repeat(2000), { from: 'a' }))).toBe('VALIDATION_FAILED')
      expect(await codeOf(bus.request('b', { f: Symbol('s') }, { timeoutMs: 10 }))).toBe('VALIDATION_FAILED')
      expect(await codeOf(bus.send('b', 1, { headers: { n: 1 } as never }))).toBe('VALIDATION_FAILED')
      expect(await bus.receive('b')).toEqual([])
    })

    it('never hands one message to two concurrent receivers, nor a lane to two of them', async () => {
      await make()
      for (let i = 0; i < 8; i++) for (const from of ['a', 'c', 'd']) await bus.send('b', { from, i }, { from })
      const batches = await Promise.all(
        Array.from({ length: 6 }, () => bus.receive('b', { max: 4, visibilityTimeoutMs: 1000 })),
      )
      const all = batches.flat()
      expect(new Set(all.map((m) => m.id)).size).toBe(all.length)
      expect(all.every((m) => m.attempt === 1)).toBe(true)
      for (const from of ['a', 'c', 'd']) {
        // Nothing is acked, so a sender's messages after a leased one wait: each lane goes to one receiver, in order, from its start.
        const holders = batches.filter((b) => b.some((m) => m.from === from))
        expect(holders.length).toBeLessThanOrEqual(1)
        const got = all.filter((m) => m.from === from).map((m) => (m.body as { i: number }).i)
        expect(got).toEqual(got.map((_, i) => i))
      }
      expect(all.length).toBeGreaterThanOrEqual(4)
    })

    it('waits for mail without polling: on send, when an ack frees a lane, when a lease ends; false on timeout, abort and close', async () => {
      await make()
      expect(typeof bus.waitForMail).toBe('function')
      const wait = (o: WaitForMailOptions): Promise<boolean> => bus.waitForMail!('b', o)
      const idle = wait({ timeoutMs: 100 })
      await clock.advance(100)
      expect(await idle).toBe(false)
      const woken = wait({})
      await bus.send('b', 1, { from: 'a' })
      expect(await woken).toBe(true)
      expect(await wait({})).toBe(true) // mail already there
      await bus.send('b', 2, { from: 'a' })
      const [first] = await bus.receive('b', { max: 1, visibilityTimeoutMs: 500 }) // 2 waits behind the leased 1
      const early = wait({ timeoutMs: 400 })
      await clock.advance(400)
      expect(await early).toBe(false)
      const freed = wait({})
      expect(await bus.ack('b', first!.id)).toBe(true)
      expect(await freed).toBe(true)
      const [second] = await bus.receive('b', { visibilityTimeoutMs: 500 })
      expect(second).toMatchObject({ body: 2, attempt: 1 })
      const leaseEnd = wait({})
      await clock.advance(500)
      expect(await leaseEnd).toBe(true)
      await bus.ack('b', second!.id)
      const ac = new AbortController()
      const aborted = wait({ signal: ac.signal })
      ac.abort()
      expect(await aborted).toBe(false)
      expect(await codeOf(wait({ timeoutMs: -1 }))).toBe('VALIDATION_FAILED')
      const closing = wait({})
      await bus.close()
      expect(await closing).toBe(false)
    })

    it('refuses every call after close with BUS_CLOSED and cancels pending requests', async () => {
      await make()
      const pending = codeOf(bus.request('nobody', 1, { timeoutMs: 60_000 }))
      await bus.close()
      expect(await pending).toBe('TASK_CANCELLED')
      const calls: Array<() => Promise<unknown>> = [
        () => bus.send('b', 1),
        () => bus.broadcast(['b'], 1),
        () => bus.receive('b'),
        () => bus.ack('b', 'msg_x'),
        () => bus.deadLetters('b'),
        () => bus.replayDeadLetter('b', 'msg_x'),
        () => bus.publish('progress', {}, { from: 'a' }),
        () => bus.subscribe('progress', undefined, () => undefined),
        () => bus.request('b', 1, { timeoutMs: 10 }),
        () => bus.onRequest('b', () => 1),
        () => bus.waitForMail!('b'),
      ]
      for (const call of calls) expect(await codeOf(call())).toBe('BUS_CLOSED')
      await bus.close() // idempotent
    })

    it('hands out copies: mutating a sent object does not change the message', async () => {
      await make()
      const body = { list: [1, 2] }
      await bus.send('b', body)
      body.list.push(3)
      const [m] = await bus.receive('b')
      expect(m!.body).toEqual({ list: [1, 2] })
      expect(m!.from).toBe('external')
    })
  })
}
