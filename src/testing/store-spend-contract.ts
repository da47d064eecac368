import { beforeEach, describe, expect, it } from 'vitest'
import type { ModelSpend } from '../core/model-spend.js'
import type { StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'
import { boom, fail, seedRun, start, succeed, T0, tid } from './store-fixtures.js'

/** A model spend whose figures differ from each other, so a field stored in the wrong place shows. */
export function spend(calls: number, extra: Partial<ModelSpend> = {}): ModelSpend {
  return {
    calls,
    replayed: 0,
    inputTokens: 100 * calls,
    outputTokens: 10 * calls,
    reasoningTokens: 3 * calls,
    cachedInputTokens: 7 * calls,
    costUsd: 0.0125 * calls,
    ...extra,
  }
}

const withModel = (op: StoreOp, model: ModelSpend): StoreOp => ({ ...op, model }) as StoreOp

/**
 * The model-spend part of the store contract: a task's spend is written with
 * the result of an attempt (a commit, or a queue's `complete`), in the same
 * transaction, kept when a later result carries none, and left unchanged by a
 * refused (stale or fenced) result. Run by `storeContract` on the store
 * `getStore()` returns.
 */
export function storeSpendContract(getStore: () => Store): void {
  let store: Store
  beforeEach(() => {
    store = getStore()
  })

  describe('model spend on task records', () => {
    it('has no spend before a result carries one, then the spend of the result that carries it', async () => {
      const id = await seedRun(store)
      await store.commit({ ops: [start(id, 'a', 1)], events: [] })
      expect((await store.getTask(id, tid('a')))?.model).toBeUndefined()
      await store.commit({ ops: [withModel(succeed(id, 'a', 1, 'ok'), spend(2))], events: [] })
      expect((await store.getTask(id, tid('a')))?.model).toEqual(spend(2))
      expect((await store.getTasks(id)).find((t) => t.taskId === 'a')?.model).toEqual(spend(2))
      expect((await store.getTask(id, tid('b')))?.model).toBeUndefined()
    })

    it('stores the spend of a failed attempt, keeps it through a result without one, and replaces it with the next', async () => {
      const id = await seedRun(store)
      await store.commit({ ops: [start(id, 'a', 1)], events: [] })
      await store.commit({ ops: [withModel(fail(id, 'a', 1, false), spend(1))], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'RETRYING', model: spend(1) })
      // The coordinator settles the failure: no spend, the stored one stays.
      await store.commit({
        ops: [
          {
            op: 'task.fail',
            runId: id,
            taskId: tid('a'),
            attempt: 1,
            error: boom,
            at: T0 + 25,
            final: false,
            settle: true,
          },
        ],
        events: [],
      })
      expect((await store.getTask(id, tid('a')))?.model).toEqual(spend(1))
      await store.commit({ ops: [start(id, 'a', 2)], events: [] })
      await store.commit({ ops: [withModel(succeed(id, 'a', 2, 'ok'), spend(3, { replayed: 1 }))], events: [] })
      expect((await store.getTask(id, tid('a')))?.model).toEqual(spend(3, { replayed: 1 }))
    })

    it('leaves the spend unchanged when the result is refused (a stale attempt, or a batch that fails)', async () => {
      const id = await seedRun(store)
      await store.commit({ ops: [start(id, 'a', 1), start(id, 'b', 1)], events: [] })
      await store.commit({ ops: [withModel(fail(id, 'a', 1, false), spend(1))], events: [] })
      await store.commit({ ops: [start(id, 'a', 2)], events: [] })
      await expect(
        store.commit({ ops: [withModel(succeed(id, 'a', 1, 'late'), spend(9))], events: [] }),
      ).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      // One op of the batch is refused: the other's spend is not written either.
      await expect(
        store.commit({
          ops: [withModel(succeed(id, 'b', 1, 'ok'), spend(4)), succeed(id, 'c', 1, 'never started')],
          events: [],
        }),
      ).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      expect((await store.getTask(id, tid('a')))?.model).toEqual(spend(1))
      expect((await store.getTask(id, tid('b')))?.model).toBeUndefined()
    })

    it("a queue's complete stores the spend with the result, fenced by the lease", async () => {
      if (store.queue === undefined) return
      const queue = store.queue()
      const id = await seedRun(store, 'RUNNING', ['a', 'b'])
      const offer = (taskId: string) => ({
        runId: id,
        taskId: tid(taskId),
        attempt: 1,
        agent: 'worker',
        version: undefined,
        capability: undefined,
        priority: 2,
        rank: 0,
        notBefore: 0,
      })
      await queue.offer([offer('a'), offer('b')])
      const claims = await queue.claim('w1', [{ agent: 'worker' }], 2, 60_000)
      const a = claims.find((c) => c.taskId === 'a')!
      const b = claims.find((c) => c.taskId === 'b')!
      await expect(queue.complete('w2', a, { ok: true, output: 1, model: spend(5) })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      expect((await store.getTask(id, tid('a')))?.model).toBeUndefined()
      await queue.complete('w1', a, { ok: true, output: 1, model: spend(2) })
      await queue.complete('w1', b, { ok: false, error: boom, model: spend(1, { replayed: 2 }) })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'SUCCEEDED', model: spend(2) })
      expect(await store.getTask(id, tid('b'))).toMatchObject({ state: 'RETRYING', model: spend(1, { replayed: 2 }) })
    })
  })
}
