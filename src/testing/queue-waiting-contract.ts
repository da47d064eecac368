import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeClock } from '../core/fake-clock.js'
import type { RunId } from '../core/ids.js'
import type { QueueOffer, QueueSelector, TaskQueue } from '../store/queue.js'
import type { Store } from '../store/store.js'
import { runState, seedRun, T0, tid } from './store-fixtures.js'

const WORKER: QueueSelector = { agent: 'worker', versions: ['1.0.0'] }
const FINDER: QueueSelector = { capability: 'search', agent: 'finder' }

function offer(runId: RunId, taskId: string, extra: Partial<QueueOffer> = {}): QueueOffer {
  return {
    runId,
    taskId: tid(taskId),
    attempt: 1,
    agent: 'worker',
    version: '1.0.0',
    capability: undefined,
    priority: 2,
    rank: 0,
    notBefore: 0,
    ...extra,
  }
}

/** How the `waiting` contract gets a fresh store (the first fields of `QueueContractInit`). */
export interface QueueWaitingContractInit {
  name: string
  create(): Promise<Store>
  destroy?(store: Store): Promise<void>
}

/**
 * The part of the {@link TaskQueue} contract about `waiting` (the demand a
 * worker's auto-scaling reads); run by `queueContract`.
 */
export function queueWaitingContract(init: QueueWaitingContractInit): void {
  describe(`TaskQueue contract: ${init.name}: waiting`, () => {
    let store: Store
    let queue: TaskQueue
    let clock: FakeClock

    beforeEach(async () => {
      store = await init.create()
      clock = new FakeClock(0, T0)
      queue = store.queue!(clock)
    })

    afterEach(async () => {
      if (init.destroy) await init.destroy(store)
      else await store.close()
    })

    it('counts the claimable attempts each selector matches (name, version, capability), with the age of the oldest', async () => {
      expect(await queue.waiting([])).toEqual([])
      expect(await queue.waiting([WORKER])).toEqual([{ count: 0, oldestMs: 0 }])
      const id = await seedRun(store, 'RUNNING', ['a', 'b', 'c', 'd', 'e', 'f', 'g'])
      await queue.offer([
        offer(id, 'a'),
        offer(id, 'b', { version: undefined }),
        offer(id, 'c', { agent: undefined, version: undefined, capability: 'search' }),
        offer(id, 'd', { agent: 'other' }),
        offer(id, 'e', { notBefore: T0 + 500 }),
        offer(id, 'f', { version: '2.0.0' }),
      ])
      await clock.advance(300)
      await queue.offer([offer(id, 'g')])
      const selectors = [WORKER, FINDER, { agent: 'other' }, { agent: 'nobody' }, { agent: 'worker' }]
      expect(await queue.waiting(selectors)).toEqual([
        { count: 3, oldestMs: 300 }, // a, b, g: not f (another version), not e (not due)
        { count: 1, oldestMs: 300 },
        { count: 1, oldestMs: 300 },
        { count: 0, oldestMs: 0 },
        { count: 4, oldestMs: 300 }, // any version: f too
      ])
      await clock.advance(300)
      expect(await queue.waiting([WORKER])).toEqual([{ count: 4, oldestMs: 600 }]) // e came due
      // A read, not a claim: everything is still there to claim.
      expect(await queue.claim('w1', [WORKER], 10, 1000)).toHaveLength(4)
      expect(await queue.waiting([WORKER, FINDER])).toEqual([
        { count: 0, oldestMs: 0 },
        { count: 1, oldestMs: 600 },
      ])
    })

    it('leaves out claimed attempts and runs not RUNNING; a lapsed claim waits again from the end of its lease', async () => {
      const id = await seedRun(store, 'RUNNING', ['a', 'b'])
      const paused = await seedRun(store, 'RUNNING', ['x'])
      await queue.offer([offer(id, 'a'), offer(id, 'b'), offer(paused, 'x')])
      await store.commit({ ops: [runState(paused, 'PAUSED', T0)], events: [] })
      expect(await queue.waiting([WORKER])).toEqual([{ count: 2, oldestMs: 0 }])
      expect(await queue.claim('w1', [WORKER], 2, 1000)).toHaveLength(2)
      expect(await queue.waiting([WORKER])).toEqual([{ count: 0, oldestMs: 0 }])
      await clock.advance(1500)
      expect(await queue.waiting([WORKER])).toEqual([{ count: 2, oldestMs: 500 }])
      await store.commit({ ops: [runState(paused, 'RUNNING', T0 + 1500)], events: [] })
      expect(await queue.waiting([WORKER])).toEqual([{ count: 3, oldestMs: 1500 }])
    })
  })
}
