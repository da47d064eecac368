// The batches part of the store contract: atomic commits and the numbered
// event log of each run.
import { beforeEach, describe, expect, it } from 'vitest'
import type { RunEvent } from '../core/events.js'
import { newRunId } from '../core/ids.js'
import type { RunState } from '../core/states.js'
import type { RunRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { createOp, fail, finish, logEvent, runState, seedRun, start, succeed, T0, tid } from './store-fixtures.js'

/**
 * The batches part of the store contract: a commit applies all its ops and
 * events or none of them, each op checked against the ones before it, and
 * the events of a run are numbered 1..n and paged. Run by `storeContract` on
 * the store `getStore()` returns.
 */
export function storeBatchesContract(getStore: () => Store): void {
  let store: Store
  beforeEach(() => {
    store = getStore()
  })
  const seed = (state?: RunState, taskIds?: readonly string[], extra?: Partial<RunRecord>) =>
    seedRun(store, state, taskIds, extra)

  describe('atomic batches', () => {
    it('applies nothing of a new run when the last op of its batch is invalid', async () => {
      const id = newRunId()
      const batch = {
        ops: [createOp(id, ['a']), start(id, 'a', 1), succeed(id, 'a', 1, 'x'), start(id, 'a', 2)],
        events: [logEvent(id, 'one'), logEvent(id, 'two')],
      }
      await expect(store.commit(batch)).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      expect(await store.getRun(id)).toBeUndefined()
      expect(await store.getTask(id, tid('a'))).toBeUndefined()
      await expect(store.getTasks(id)).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
      expect(await store.listRuns({ workflow: `wf_${id}` })).toEqual([])
      // The id is still free.
      await store.commit({ ops: [createOp(id, ['a'])], events: [] })
      expect(await store.listEvents(id)).toEqual([])
    })

    it('leaves an existing run, its tasks and its events unchanged when a later op fails', async () => {
      const id = await seed()
      await store.commit({ ops: [], events: [logEvent(id, 'before')] })
      const runBefore = await store.getRun(id)
      const tasksBefore = await store.getTasks(id)
      const batch = {
        ops: [
          start(id, 'a', 1),
          succeed(id, 'a', 1, { big: 'result' }),
          finish(id, 'b', 'SKIPPED'),
          runState(id, 'SUCCEEDED', T0 + 99),
          succeed(id, 'c', 1, 'never started'),
        ],
        events: [logEvent(id, 'during-1'), logEvent(id, 'during-2')],
      }
      await expect(store.commit(batch)).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      expect(await store.getRun(id)).toEqual(runBefore)
      expect(await store.getTasks(id)).toEqual(tasksBefore)
      expect((await store.listEvents(id)).map((e) => (e.event as { message?: string }).message)).toEqual(['before'])
      // The store is still usable and the sequence continues from where it was.
      await store.commit({ ops: [start(id, 'a', 1)], events: [logEvent(id, 'after')] })
      expect((await store.listEvents(id)).map((e) => e.seq)).toEqual([1, 2])
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'RUNNING', attempt: 1 })
    })

    it('applies nothing when a batch touches an unknown run after valid ops', async () => {
      const id = await seed()
      await expect(
        store.commit({ ops: [start(id, 'a', 1), start(newRunId(), 'a', 1)], events: [logEvent(id, 'x')] }),
      ).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'PENDING', attempt: 0 })
      expect(await store.listEvents(id)).toEqual([])
    })

    it('validates each op against the effects of the earlier ops of its batch', async () => {
      const id = await seed()
      await expect(
        store.commit({ ops: [start(id, 'a', 1), succeed(id, 'a', 1, 1), start(id, 'a', 2)], events: [] }),
      ).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      await expect(store.commit({ ops: [start(id, 'a', 1), start(id, 'a', 1)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'PENDING', attempt: 0 })
      await store.commit({
        ops: [start(id, 'a', 1), fail(id, 'a', 1, false), start(id, 'a', 2), succeed(id, 'a', 2, 'ok')],
        events: [],
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'SUCCEEDED', attempt: 2, output: 'ok' })
    })
  })

  describe('events', () => {
    it('numbers events 1..n per run, across batches, oldest first', async () => {
      const a = await seed()
      const b = await seed()
      await store.commit({ ops: [], events: [logEvent(a, 'a1'), logEvent(b, 'b1'), logEvent(a, 'a2')] })
      await store.commit({ ops: [start(a, 'a', 1)], events: [logEvent(a, 'a3'), logEvent(b, 'b2')] })
      const ea = await store.listEvents(a)
      expect(ea.map((e) => e.seq)).toEqual([1, 2, 3])
      expect(ea.map((e) => (e.event as { message: string }).message)).toEqual(['a1', 'a2', 'a3'])
      expect(ea[0].event).toEqual(logEvent(a, 'a1'))
      const eb = await store.listEvents(b)
      expect(eb.map((e) => [e.seq, (e.event as { message: string }).message])).toEqual([
        [1, 'b1'],
        [2, 'b2'],
      ])
    })

    it('stores the events of a run created in the same batch', async () => {
      const id = newRunId()
      const started: RunEvent = { type: 'run.started', at: T0, runId: id, workflow: `wf_${id}`, tasks: 1 }
      await store.commit({ ops: [createOp(id, ['a'])], events: [started] })
      expect(await store.listEvents(id)).toEqual([{ seq: 1, event: started }])
    })

    it('pages with afterSeq and limit', async () => {
      const id = await seed()
      await store.commit({ ops: [], events: Array.from({ length: 10 }, (_, i) => logEvent(id, `m${i + 1}`)) })
      const seqs = async (o: { afterSeq?: number; limit?: number }) => (await store.listEvents(id, o)).map((e) => e.seq)
      expect(await seqs({})).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      expect(await seqs({ afterSeq: 7 })).toEqual([8, 9, 10])
      expect(await seqs({ limit: 3 })).toEqual([1, 2, 3])
      expect(await seqs({ afterSeq: 3, limit: 4 })).toEqual([4, 5, 6, 7])
      expect(await seqs({ afterSeq: 10 })).toEqual([])
      expect(await seqs({ afterSeq: 42 })).toEqual([])
      expect((await store.listEvents(id, { afterSeq: 4, limit: 1 }))[0].event).toEqual(logEvent(id, 'm5'))
    })

    it('answers RUN_NOT_FOUND for the events of an unknown run', async () => {
      await expect(store.listEvents(newRunId())).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
    })
  })
}
