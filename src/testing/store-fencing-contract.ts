import { beforeEach, describe, expect, it } from 'vitest'
import type { SerializedError } from '../core/errors.js'
import type { RunId } from '../core/ids.js'
import type { RunState } from '../core/states.js'
import type { RunRecord, StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'
import { boom, fail, finish, seedRun, start, succeed, T0, tid } from './store-fixtures.js'

/**
 * The fencing part of the store contract: attempt fencing of task writes,
 * and task writes refused in a run paused or cancelled by another process.
 * Run by `storeContract` on the store `getStore()` returns.
 */
export function storeFencingContract(getStore: () => Store): void {
  let store: Store
  beforeEach(() => {
    store = getStore()
  })
  const seed = (state?: RunState, taskIds?: readonly string[], extra?: Partial<RunRecord>) =>
    seedRun(store, state, taskIds, extra)

  describe('task fencing', () => {
    it('records a start, then a success with its output', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1, T0 + 10)], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({
        state: 'RUNNING',
        attempt: 1,
        agent: 'worker@1.0.0',
        startedAt: T0 + 10,
        finishedAt: undefined,
      })
      await store.commit({ ops: [succeed(id, 'a', 1, { ok: true }, T0 + 20)], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({
        state: 'SUCCEEDED',
        attempt: 1,
        output: { ok: true },
        finishedAt: T0 + 20,
        error: undefined,
      })
    })

    it('refuses a success without a start (STORE_CONFLICT)', async () => {
      const id = await seed()
      await expect(store.commit({ ops: [succeed(id, 'a', 1, 1)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await expect(store.commit({ ops: [succeed(id, 'a', 0, 1)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await expect(store.commit({ ops: [fail(id, 'a', 0, true)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'PENDING', attempt: 0, output: undefined })
    })

    it('refuses a result from a stale attempt once a newer attempt started', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1)], events: [] })
      await store.commit({ ops: [start(id, 'a', 2)], events: [] })
      await expect(store.commit({ ops: [succeed(id, 'a', 1, 'late')], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await expect(store.commit({ ops: [fail(id, 'a', 1, true)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'RUNNING', attempt: 2, output: undefined })
      await store.commit({ ops: [succeed(id, 'a', 2, 'fresh')], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'SUCCEEDED', attempt: 2, output: 'fresh' })
    })

    it('refuses a result for an attempt that never started', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1)], events: [] })
      await expect(store.commit({ ops: [succeed(id, 'a', 2, 'future')], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
    })

    it('requires each start to use a higher attempt than the stored one', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 2)], events: [] })
      await expect(store.commit({ ops: [start(id, 'a', 2)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await expect(store.commit({ ops: [start(id, 'a', 1)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await expect(store.commit({ ops: [start(id, 'b', 0)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'RUNNING', attempt: 2 })
      await store.commit({ ops: [start(id, 'a', 3)], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ attempt: 3 })
    })

    it('refuses to start, succeed or finish a task that is finished', async () => {
      const id = await seed()
      await store.commit({
        ops: [
          start(id, 'a', 1),
          succeed(id, 'a', 1, 'ok'),
          finish(id, 'b', 'SKIPPED'),
          start(id, 'c', 1),
          fail(id, 'c', 1, true),
        ],
        events: [],
      })
      for (const t of ['a', 'b', 'c']) {
        await expect(store.commit({ ops: [start(id, t, 5)], events: [] }), `start ${t}`).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
        })
        await expect(
          store.commit({ ops: [finish(id, t, 'CANCELLED')], events: [] }),
          `finish ${t}`,
        ).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      }
      await expect(store.commit({ ops: [succeed(id, 'a', 1, 'again')], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await expect(store.commit({ ops: [succeed(id, 'c', 1, 'late')], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      const tasks = await store.getTasks(id)
      expect(tasks.map((t) => [t.taskId, t.state, t.output])).toEqual([
        ['a', 'SUCCEEDED', 'ok'],
        ['b', 'SKIPPED', undefined],
        ['c', 'FAILED', undefined],
      ])
    })

    it('marks a non-final failure RETRYING and a final one FAILED, keeping the error', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1), fail(id, 'a', 1, false, boom, T0 + 15)], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({
        state: 'RETRYING',
        attempt: 1,
        error: boom,
        finishedAt: undefined,
      })
      // A RETRYING task is not running: its attempt cannot report again.
      await expect(store.commit({ ops: [fail(id, 'a', 1, true)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      await store.commit({ ops: [start(id, 'a', 2)], events: [] })
      const last: SerializedError = {
        code: 'TASK_TIMEOUT',
        message: 'too slow',
        details: { timeoutMs: 5 },
        retryable: true,
      }
      await store.commit({ ops: [fail(id, 'a', 2, true, last, T0 + 40)], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({
        state: 'FAILED',
        attempt: 2,
        error: last,
        finishedAt: T0 + 40,
      })
    })

    it('clears the error of an earlier attempt when a retry succeeds', async () => {
      const id = await seed()
      await store.commit({
        ops: [start(id, 'a', 1), fail(id, 'a', 1, false), start(id, 'a', 2), succeed(id, 'a', 2, 7)],
        events: [],
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({
        state: 'SUCCEEDED',
        attempt: 2,
        output: 7,
        error: undefined,
      })
    })

    it('finishes a pending task as SKIPPED and a running or retrying one as CANCELLED, and then refuses its late result', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'b', 1), start(id, 'c', 1), fail(id, 'c', 1, false)], events: [] })
      await store.commit({
        ops: [
          finish(id, 'a', 'SKIPPED', T0 + 31),
          finish(id, 'b', 'CANCELLED', T0 + 32),
          finish(id, 'c', 'CANCELLED', T0 + 33),
        ],
        events: [],
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'SKIPPED', finishedAt: T0 + 31, attempt: 0 })
      expect(await store.getTask(id, tid('b'))).toMatchObject({ state: 'CANCELLED', finishedAt: T0 + 32, attempt: 1 })
      expect(await store.getTask(id, tid('c'))).toMatchObject({ state: 'CANCELLED', finishedAt: T0 + 33 })
      await expect(store.commit({ ops: [succeed(id, 'b', 1, 'late')], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
      })
      expect(await store.getTask(id, tid('b'))).toMatchObject({ state: 'CANCELLED', output: undefined })
    })
  })

  describe('run-state fencing (pause and cancel from any process)', () => {
    const setState = (id: RunId, state: RunState): StoreOp => ({ op: 'run.state', runId: id, state, at: T0 + 5 })

    it('refuses a start in a PAUSED run, naming the run state, and takes it again once RUNNING', async () => {
      const id = await seed()
      await store.commit({ ops: [setState(id, 'PAUSED')], events: [] })
      await expect(store.commit({ ops: [start(id, 'a', 1)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
        details: { runState: 'PAUSED', reason: 'run-paused' },
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'PENDING', attempt: 0 })
      await store.commit({ ops: [setState(id, 'RUNNING')], events: [] })
      await store.commit({ ops: [start(id, 'a', 1)], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'RUNNING', attempt: 1 })
    })

    it('stores the result of an attempt already running when its run is paused', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1)], events: [] })
      await store.commit({ ops: [setState(id, 'PAUSED')], events: [] })
      await store.commit({ ops: [succeed(id, 'a', 1, 'kept')], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'SUCCEEDED', output: 'kept' })
    })

    it('refuses starts and results in a CANCELLED run, leaving the store as it was', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1)], events: [] })
      await store.commit({ ops: [setState(id, 'CANCELLED')], events: [] })
      await expect(store.commit({ ops: [succeed(id, 'a', 1, 'late')], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
        details: { runState: 'CANCELLED' },
      })
      await expect(store.commit({ ops: [fail(id, 'a', 1, true)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
        details: { runState: 'CANCELLED' },
      })
      await expect(store.commit({ ops: [start(id, 'b', 1)], events: [] })).rejects.toMatchObject({
        code: 'STORE_CONFLICT',
        details: { runState: 'CANCELLED' },
      })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'RUNNING', attempt: 1, output: undefined })
    })

    it('lets a coordinator settle a RETRYING attempt as FAILED (settle), and only that attempt', async () => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1), fail(id, 'a', 1, false)], events: [] })
      const settle = (attempt: number): StoreOp => ({
        op: 'task.fail',
        runId: id,
        taskId: tid('a'),
        attempt,
        error: { code: 'TASK_FAILED', message: 'x', details: {}, retryable: false },
        at: T0 + 9,
        final: true,
        settle: true,
      })
      await expect(store.commit({ ops: [settle(2)], events: [] })).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
      await store.commit({ ops: [settle(1)], events: [] })
      expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'FAILED', attempt: 1, finishedAt: T0 + 9 })
    })
  })
}
