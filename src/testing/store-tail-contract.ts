import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RunEvent } from '../core/events.js'
import type { RunId } from '../core/ids.js'
import type { TailedEvent, TailOptions } from '../store/records.js'
import type { Store } from '../store/store.js'
import { logEvent, runState, seedRun, T0, tid } from './store-fixtures.js'

/** How a Store adapter is made and torn down for {@link storeTailContract} (as for the store contract). */
export interface StoreTailContractInit {
  name: string
  create(): Promise<Store>
  /** Closes the store and removes its data; `close()` without it. */
  destroy?(s: Store): Promise<void>
}

/** Every event after `options.after`, page by page (`limit` per page), and the last page's `next`. */
export async function tailAll(
  store: Store,
  options: TailOptions = {},
): Promise<{ events: TailedEvent[]; next: string; pages: number }> {
  const events: TailedEvent[] = []
  let after = options.after
  for (let pages = 1; ; pages++) {
    const page = await store.tailEvents({ ...options, after })
    if (page.events.length === 0) {
      expect(page.next).toBe(after ?? '')
      return { events, next: page.next, pages }
    }
    expect(page.events.length).toBeLessThanOrEqual(options.limit ?? Infinity)
    expect(page.next).toBe(page.events[page.events.length - 1].position)
    events.push(...page.events)
    after = page.next
  }
}

/**
 * Waits until a tail from the beginning has seen `count` events (at most
 * 20 s). On PostgreSQL a commit shows only once every transaction that began
 * before it has ended, anywhere on the server (other tests' included); the
 * memory and SQLite stores return at once.
 */
export async function caughtUp(store: Store, count: number, options: TailOptions = {}): Promise<void> {
  const deadline = Date.now() + 20_000
  let seen = 0
  let after: string | undefined
  for (;;) {
    const page = await store.tailEvents({ ...options, after })
    seen += page.events.length
    after = page.next
    if (page.events.length > 0) continue
    if (seen >= count) return
    if (Date.now() > deadline) throw new Error(`The tail saw ${seen} of ${count} events in 20 s.`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const text = (e: TailedEvent): string => (e.event.type === 'task.log' ? e.event.message : e.event.type)

/**
 * The contract of {@link Store.tailEvents} every adapter passes (memory,
 * SQLite, PostgreSQL): every committed event once, in commit order, paging
 * with `next`, the `runId` filter, `VALIDATION_FAILED` for a malformed
 * position, and cursors that survive pruning.
 *
 * @example
 * ```ts
 * storeTailContract({ name: 'memory', create: async () => new MemoryStore() })
 * ```
 */
export function storeTailContract(init: StoreTailContractInit): void {
  describe(`Store tail contract: ${init.name}`, () => {
    let store: Store

    beforeEach(async () => {
      store = await init.create()
    })

    afterEach(async () => {
      if (init.destroy) await init.destroy(store)
      else await store.close()
    })

    /** Commits the batches one after another; event messages are `<batch>:<run>:<k>`. */
    async function commitBatches(runs: RunId[], plan: number[][]): Promise<Map<string, RunEvent>> {
      const sent = new Map<string, RunEvent>()
      for (const [b, runIdx] of plan.entries()) {
        const counts = new Map<number, number>()
        const events = runIdx.map((r) => {
          const k = (counts.get(r) ?? 0) + 1
          counts.set(r, k)
          const e = logEvent(runs[r], `${b}:${r}:${k}`)
          sent.set(`${b}:${r}:${k}`, e)
          return e
        })
        await store.commit({ ops: [], events })
      }
      return sent
    }

    const PLAN = [[0, 1], [0, 0], [2, 1, 0], [1], [2, 2, 0, 1]]

    it('returns every event once, in commit order, each run by seq, page by page with next', async () => {
      const runs = [await seedRun(store), await seedRun(store), await seedRun(store)]
      const sent = await commitBatches(runs, PLAN)
      await caughtUp(store, sent.size)
      const reference = (await tailAll(store)).events
      for (const limit of [1, 2, 3, 1000]) {
        const { events, next } = await tailAll(store, { limit })
        expect(events).toEqual(reference)
        expect(next).toBe(events[events.length - 1].position)
      }
      expect(reference.map(text).sort()).toEqual([...sent.keys()].sort())
      expect(new Set(reference.map((e) => e.position)).size).toBe(reference.length)
      for (const e of reference) expect(e.event).toEqual(sent.get(text(e)))
      // Batches in the order they were committed; within a run, its log order.
      const batches = reference.map((e) => Number(text(e).split(':')[0]))
      expect(batches).toEqual([...batches].sort((a, b) => a - b))
      for (const runId of runs) {
        const mine = reference.filter((e) => e.event.runId === runId)
        const log = await store.listEvents(runId)
        expect(mine.map((e) => [e.seq, text(e)])).toEqual(log.map((s) => [s.seq, text({ ...s, position: '' })]))
      }
      // Going on from any position gives exactly what follows it.
      for (const [i, e] of reference.entries())
        expect((await tailAll(store, { after: e.position, limit: 2 })).events).toEqual(reference.slice(i + 1))
    })

    it('goes on with the events committed after the last next, and only those', async () => {
      const [a, b] = [await seedRun(store), await seedRun(store)]
      await commitBatches([a, b], [[0, 1]])
      await caughtUp(store, 2)
      const first = await tailAll(store)
      expect(first.events.map(text).sort()).toEqual(['0:0:1', '0:1:1'])
      await store.commit({ ops: [], events: [logEvent(b, 'later b'), logEvent(a, 'later a')] })
      await caughtUp(store, 4)
      const second = await tailAll(store, { after: first.next })
      expect(second.events.map(text).sort()).toEqual(['later a', 'later b'])
      expect(second.events.find((e) => text(e) === 'later a')?.seq).toBe(2)
      expect((await tailAll(store, { after: second.next })).events).toEqual([])
    })

    it('filters by runId, from the start or from any position (of that run or another)', async () => {
      const runs = [await seedRun(store), await seedRun(store), await seedRun(store)]
      await caughtUp(store, (await commitBatches(runs, PLAN)).size)
      const all = (await tailAll(store)).events
      for (const runId of runs) {
        const expected = all.filter((e) => e.event.runId === runId)
        expect((await tailAll(store, { runId })).events).toEqual(expected)
        expect((await tailAll(store, { runId, limit: 1 })).events).toEqual(expected)
        for (const [i, e] of all.entries()) {
          const after = all.slice(i + 1).filter((x) => x.event.runId === runId)
          expect((await tailAll(store, { runId, after: e.position, limit: 2 })).events).toEqual(after)
        }
      }
      expect(await store.tailEvents({ runId: 'run_unknown' })).toEqual({ events: [], next: '' })
    })

    it('returns no events and next equal to after when nothing is new (empty store, the end, limit 0)', async () => {
      expect(await store.tailEvents()).toEqual({ events: [], next: '' })
      expect(await store.tailEvents({ after: '' })).toEqual({ events: [], next: '' })
      const id = await seedRun(store)
      expect(await store.tailEvents()).toEqual({ events: [], next: '' })
      await store.commit({ ops: [], events: [logEvent(id, 'one'), logEvent(id, 'two')] })
      await caughtUp(store, 2)
      expect((await store.tailEvents({ limit: 0 })).events).toEqual([])
      const { next } = await tailAll(store)
      expect(await store.tailEvents({ after: next })).toEqual({ events: [], next })
      expect(await store.tailEvents({ after: next, limit: 0 })).toEqual({ events: [], next })
      const one = await store.tailEvents({ limit: 1 })
      expect(await store.tailEvents({ after: one.next, limit: 0 })).toEqual({ events: [], next: one.next })
      expect((await store.tailEvents({ after: one.next })).events.map(text)).toEqual(['two'])
    })

    it('refuses a malformed position or limit with VALIDATION_FAILED', async () => {
      const id = await seedRun(store)
      await store.commit({ ops: [], events: [logEvent(id, 'one')] })
      for (const after of ['garbage', '-1', '1e3', ' 1', '1.5.x.y!', '..', '\n']) {
        await expect(store.tailEvents({ after }), after).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
        await expect(store.tailEvents({ after, runId: id }), after).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
        })
      }
      for (const limit of [-1, 1.5, Number.NaN])
        await expect(store.tailEvents({ limit }), String(limit)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    })

    it('tails the events a worker stores with its result through the task queue', async () => {
      if (store.queue === undefined) return
      const queue = store.queue()
      const id = await seedRun(store)
      await store.commit({ ops: [], events: [logEvent(id, 'before')] })
      const version = '1.0.0'
      await queue.offer([
        {
          runId: id,
          taskId: tid('a'),
          attempt: 1,
          agent: 'worker',
          version,
          capability: undefined,
          priority: 2,
          rank: 0,
          notBefore: 0,
        },
      ])
      const [claim] = await queue.claim('w1', [{ agent: 'worker', versions: [version] }], 1, 60_000)
      await queue.complete('w1', claim, { ok: true, output: 1 }, [logEvent(id, 'from the worker')])
      await caughtUp(store, 2)
      const { events } = await tailAll(store)
      expect(events.map((e) => [e.seq, text(e)])).toEqual([
        [1, 'before'],
        [2, 'from the worker'],
      ])
    })

    it('keeps a cursor working after its run is pruned, even when that run wrote the last events', async () => {
      const [done, live] = [await seedRun(store), await seedRun(store)]
      await store.commit({ ops: [], events: [logEvent(live, 'live 1')] })
      await store.commit({ ops: [runState(done, 'SUCCEEDED', T0 + 1)], events: [logEvent(done, 'done 1')] })
      await store.commit({ ops: [], events: [logEvent(done, 'done 2'), logEvent(done, 'done 3')] })
      await caughtUp(store, 4)
      const before = await tailAll(store)
      expect(before.events.map(text)).toEqual(['live 1', 'done 1', 'done 2', 'done 3'])
      const middle = before.events[2].position
      expect(await store.pruneRuns(T0 + 100)).toBe(1)
      await store.commit({ ops: [], events: [logEvent(live, 'live 2')] })
      await store.commit({ ops: [], events: [logEvent(live, 'live 3')] })
      await caughtUp(store, 3)
      expect((await tailAll(store, { after: before.next })).events.map(text)).toEqual(['live 2', 'live 3'])
      expect((await tailAll(store, { after: middle })).events.map(text)).toEqual(['live 2', 'live 3'])
      expect((await tailAll(store, { after: before.next, runId: live })).events.map(text)).toEqual(['live 2', 'live 3'])
      expect((await tailAll(store, { after: before.next, runId: done })).events).toEqual([])
      expect((await tailAll(store)).events.map(text)).toEqual(['live 1', 'live 2', 'live 3'])
    })
  })
}
