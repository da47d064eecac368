import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { newRunId, type RunId } from '../core/ids.js'
import type { RunState } from '../core/states.js'
import type { RunRecord, StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'
import { agentRecord, agentStoreContract, move } from './agent-store-contract.js'
import { storeBatchesContract } from './store-batches-contract.js'
import { storeFencingContract } from './store-fencing-contract.js'
import { storeSpendContract } from './store-spend-contract.js'
import { storeValuesContract } from './store-values-contract.js'
import {
  boom,
  createOp,
  fail,
  finish,
  logEvent,
  runRecord,
  runState,
  seedRun,
  start,
  succeed,
  T0,
  taskRecord,
  tid,
} from './store-fixtures.js'

/** How a Store adapter is made and torn down for the contract suite. */
export interface StoreContractInit {
  name: string
  create(): Promise<Store>
  destroy?(s: Store): Promise<void>
  /**
   * Opens a second store on the same data as `s` (the same file or schema),
   * for races between two writers; the test closes it. Without it, races run
   * on `s` alone.
   */
  openPeer?(s: Store): Promise<Store>
}

/**
 * The contract every {@link Store} adapter passes (memory, SQLite,
 * PostgreSQL): atomic batches, attempt fencing, final states, ordering,
 * copies, error codes.
 */
export function storeContract(init: StoreContractInit): void {
  describe(`Store contract: ${init.name}`, () => {
    let store: Store
    let closed = false

    beforeEach(async () => {
      store = await init.create()
      closed = false
    })

    afterEach(async () => {
      if (init.destroy) await init.destroy(store)
      else if (!closed) await store.close()
    })

    const seed = (state?: RunState, taskIds?: readonly string[], extra?: Partial<RunRecord>): Promise<RunId> =>
      seedRun(store, state, taskIds, extra)

    describe('runs and tasks', () => {
      it('creates a run and reads it back with its tasks in workflow order', async () => {
        const id = newRunId()
        const run = runRecord(id, { parentRunId: newRunId() })
        const tasks = ['zeta', 'alpha', 'mid'].map((t, i) =>
          taskRecord(id, t, { priority: (['CRITICAL', 'LOW', 'HIGH'] as const)[i] }),
        )
        await store.commit({ ops: [{ op: 'run.create', run, tasks }], events: [] })
        expect(await store.getRun(id)).toEqual(run)
        const stored = await store.getTasks(id)
        expect(stored.map((t) => t.taskId)).toEqual(['zeta', 'alpha', 'mid'])
        expect(stored).toEqual(tasks)
        expect(await store.getTask(id, tid('alpha'))).toEqual(tasks[1])
        // The trace context of a run (its span's W3C traceparent) is kept; a run without one reads back without it.
        const traced = runRecord(newRunId(), { traceParent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })
        await store.commit({ ops: [{ op: 'run.create', run: traced, tasks: [] }], events: [] })
        expect((await store.getRun(traced.id))?.traceParent).toBe(traced.traceParent)
        expect('traceParent' in (await store.getRun(id))!).toBe(false)
      })

      it('keeps the parent run and task of a child run, and lists the runs of a parent', async () => {
        const parent = await seed('RUNNING', ['plan'])
        const id = newRunId()
        const child = runRecord(id, { parentRunId: parent, parentTaskId: tid('plan') })
        await store.commit({ ops: [{ op: 'run.create', run: child, tasks: [taskRecord(id, 'a')] }], events: [] })
        await seed()
        expect(await store.getRun(id)).toEqual(child)
        const listed = await store.listRuns({ parentRunId: parent })
        expect(listed.map((r) => [r.id, r.parentTaskId])).toEqual([[id, 'plan']])
        expect(await store.listRuns({ parentRunId: newRunId() })).toEqual([])
      })

      it('returns undefined for an unknown run or task, and RUN_NOT_FOUND from getTasks of an unknown run', async () => {
        const id = await seed()
        expect(await store.getRun(newRunId())).toBeUndefined()
        expect(await store.getTask(id, tid('nope'))).toBeUndefined()
        expect(await store.getTask(newRunId(), tid('a'))).toBeUndefined()
        await expect(store.getTasks(newRunId())).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
      })

      it('refuses a run created twice with STORE_CONFLICT, leaving the first one untouched', async () => {
        const id = await seed('RUNNING', ['a'])
        await expect(
          store.commit({ ops: [createOp(id, ['x', 'y'], { workflow: 'other' })], events: [] }),
        ).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
        expect((await store.getRun(id))?.workflow).toBe(`wf_${id}`)
        expect((await store.getTasks(id)).map((t) => t.taskId)).toEqual(['a'])
      })

      it('refuses a run created twice within one batch', async () => {
        const id = newRunId()
        await expect(store.commit({ ops: [createOp(id), createOp(id)], events: [] })).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
        })
        expect(await store.getRun(id)).toBeUndefined()
      })

      it('refuses a run that lists one task id twice', async () => {
        const id = newRunId()
        await expect(store.commit({ ops: [createOp(id, ['a', 'a'])], events: [] })).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
        })
        expect(await store.getRun(id)).toBeUndefined()
      })

      it('answers RUN_NOT_FOUND to every op on an unknown run', async () => {
        const ghost = newRunId()
        for (const op of [
          runState(ghost, 'RUNNING', T0),
          start(ghost, 'a', 1),
          succeed(ghost, 'a', 1, 1),
          fail(ghost, 'a', 1, true),
          finish(ghost, 'a', 'CANCELLED'),
        ]) {
          await expect(store.commit({ ops: [op], events: [] }), op.op).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
        }
        expect(await store.getRun(ghost)).toBeUndefined()
      })

      it('answers STORE_CONFLICT to a write on a task the run does not have', async () => {
        const id = await seed()
        await expect(store.commit({ ops: [start(id, 'nope', 1)], events: [] })).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
        })
      })

      it('accepts a run and writes to its tasks in the same batch', async () => {
        const id = newRunId()
        await store.commit({
          ops: [createOp(id, ['a']), runState(id, 'RUNNING', T0 + 1), start(id, 'a', 1), succeed(id, 'a', 1, 'done')],
          events: [],
        })
        expect((await store.getRun(id))?.state).toBe('RUNNING')
        expect(await store.getTask(id, tid('a'))).toMatchObject({ state: 'SUCCEEDED', attempt: 1, output: 'done' })
      })
    })

    describe('listRuns', () => {
      it('lists newest first and honours limit', async () => {
        const workflow = `wf_list_${newRunId()}`
        const ids: RunId[] = []
        for (const offset of [300, 100, 500, 200, 400]) {
          const id = newRunId()
          ids.push(id)
          await store.commit({ ops: [createOp(id, ['a'], { workflow, createdAt: T0 + offset })], events: [] })
        }
        const all = await store.listRuns({ workflow })
        expect(all.map((r) => r.createdAt)).toEqual([T0 + 500, T0 + 400, T0 + 300, T0 + 200, T0 + 100])
        expect(all.map((r) => r.id)).toEqual([ids[2], ids[4], ids[0], ids[3], ids[1]])
        const two = await store.listRuns({ workflow, limit: 2 })
        expect(two.map((r) => r.id)).toEqual([ids[2], ids[4]])
      })

      it('filters by workflow and by one state or several', async () => {
        const workflow = `wf_filter_${newRunId()}`
        const running = await seed('RUNNING', ['a'], { workflow, createdAt: T0 + 1 })
        const paused = await seed('PAUSED', ['a'], { workflow, createdAt: T0 + 2 })
        const failed = await seed('RUNNING', ['a'], { workflow, createdAt: T0 + 3 })
        await store.commit({ ops: [runState(failed, 'FAILED', T0 + 9, boom)], events: [] })
        const elsewhere = await seed('RUNNING', ['a'], { workflow: `${workflow}_other`, createdAt: T0 + 4 })

        expect((await store.listRuns({ workflow })).map((r) => r.id)).toEqual([failed, paused, running])
        expect((await store.listRuns({ workflow, state: 'RUNNING' })).map((r) => r.id)).toEqual([running])
        expect((await store.listRuns({ workflow, state: ['PAUSED', 'FAILED'] })).map((r) => r.id)).toEqual([
          failed,
          paused,
        ])
        expect(await store.listRuns({ workflow, state: 'SUCCEEDED' })).toEqual([])
        expect((await store.listRuns({ workflow: `${workflow}_other` })).map((r) => r.id)).toEqual([elsewhere])
        const full = (await store.listRuns({ workflow, state: 'FAILED' }))[0]
        expect(full).toEqual(await store.getRun(failed))
      })

      it('returns at most 100 runs by default', async () => {
        const workflow = `wf_many_${newRunId()}`
        const ops: StoreOp[] = []
        for (let i = 0; i < 101; i++) ops.push(createOp(newRunId(), ['a'], { workflow, createdAt: T0 + i }))
        await store.commit({ ops, events: [] })
        const listed = await store.listRuns({ workflow })
        expect(listed).toHaveLength(100)
        expect(listed[0].createdAt).toBe(T0 + 100)
        expect(listed[99].createdAt).toBe(T0 + 1)
      })
    })

    describe('run state', () => {
      it('sets startedAt when the run starts, finishedAt and error when it ends', async () => {
        const id = await seed('PENDING')
        expect(await store.getRun(id)).toMatchObject({
          state: 'PENDING',
          startedAt: undefined,
          finishedAt: undefined,
          error: undefined,
        })
        await store.commit({ ops: [runState(id, 'RUNNING', T0 + 100)], events: [] })
        expect(await store.getRun(id)).toMatchObject({ state: 'RUNNING', startedAt: T0 + 100, finishedAt: undefined })
        await store.commit({ ops: [runState(id, 'PAUSED', T0 + 150)], events: [] })
        await store.commit({ ops: [runState(id, 'RUNNING', T0 + 200)], events: [] })
        expect(await store.getRun(id)).toMatchObject({ state: 'RUNNING', startedAt: T0 + 100, finishedAt: undefined })
        await store.commit({ ops: [runState(id, 'FAILED', T0 + 300, boom)], events: [] })
        const run = await store.getRun(id)
        expect(run).toMatchObject({ state: 'FAILED', startedAt: T0 + 100, finishedAt: T0 + 300 })
        expect(run?.error).toEqual(boom)
      })

      it('sets finishedAt without an error when the run succeeds', async () => {
        const id = await seed()
        await store.commit({ ops: [runState(id, 'SUCCEEDED', T0 + 50)], events: [] })
        expect(await store.getRun(id)).toMatchObject({ state: 'SUCCEEDED', finishedAt: T0 + 50, error: undefined })
      })

      it.each(['SUCCEEDED', 'FAILED', 'CANCELLED'] as const)(
        'refuses to move a %s run to another state (STORE_CONFLICT)',
        async (final) => {
          const id = await seed()
          await store.commit({ ops: [runState(id, final, T0 + 50)], events: [] })
          for (const next of [
            'RUNNING',
            'PAUSED',
            'PENDING',
            ...(['SUCCEEDED', 'FAILED', 'CANCELLED'] as const).filter((s) => s !== final),
          ] as const) {
            await expect(store.commit({ ops: [runState(id, next, T0 + 60)], events: [] }), next).rejects.toMatchObject({
              code: 'STORE_CONFLICT',
            })
          }
          expect(await store.getRun(id)).toMatchObject({ state: final, finishedAt: T0 + 50 })
        },
      )

      it('refuses to change a final state set earlier in the same batch', async () => {
        const id = await seed()
        await expect(
          store.commit({ ops: [runState(id, 'SUCCEEDED', T0 + 50), runState(id, 'RUNNING', T0 + 60)], events: [] }),
        ).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
        expect(await store.getRun(id)).toMatchObject({ state: 'RUNNING', finishedAt: undefined })
      })
    })

    storeFencingContract(() => store)

    storeBatchesContract(() => store)

    storeValuesContract(() => store)

    storeSpendContract(() => store)

    describe('preset task records (replay) and pruning', () => {
      it('keeps task records created already SUCCEEDED with their output and attempt', async () => {
        const id = newRunId()
        const op: StoreOp = {
          op: 'run.create',
          run: runRecord(id, { state: 'RUNNING', parentRunId: newRunId() }),
          tasks: [
            taskRecord(id, 'a', {
              state: 'SUCCEEDED',
              attempt: 2,
              agent: 'worker@1.0.0',
              output: { kept: [1, 'two'] },
              startedAt: T0,
              finishedAt: T0 + 5,
            }),
            taskRecord(id, 'b'),
          ],
        }
        await store.commit({ ops: [op], events: [] })
        expect(await store.getTask(id, tid('a'))).toMatchObject({
          state: 'SUCCEEDED',
          attempt: 2,
          output: { kept: [1, 'two'] },
          finishedAt: T0 + 5,
        })
        // A finished preset task cannot be started again.
        await expect(store.commit({ ops: [start(id, 'a', 3)], events: [] })).rejects.toMatchObject({
          code: 'STORE_CONFLICT',
        })
        const run = await store.getRun(id)
        expect(run?.parentRunId).toBe((op as Extract<StoreOp, { op: 'run.create' }>).run.parentRunId)
      })

      it('prunes only final runs finished before the limit, with their tasks and events', async () => {
        const old = newRunId(),
          recent = newRunId(),
          live = newRunId()
        for (const id of [old, recent, live])
          await store.commit({ ops: [createOp(id, ['a'])], events: [logEvent(id, 'x')] })
        await store.commit({
          ops: [runState(old, 'RUNNING', T0 + 1), runState(old, 'SUCCEEDED', T0 + 100)],
          events: [],
        })
        await store.commit({
          ops: [runState(recent, 'RUNNING', T0 + 1), runState(recent, 'FAILED', T0 + 10_000)],
          events: [],
        })
        await store.commit({ ops: [runState(live, 'RUNNING', T0 + 1)], events: [] })
        expect(await store.pruneRuns(T0 + 5_000)).toBe(1)
        expect(await store.getRun(old)).toBeUndefined()
        await expect(store.getTasks(old)).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
        expect(await store.getRun(recent)).toBeDefined()
        expect(await store.getRun(live)).toBeDefined()
        expect(await store.listEvents(recent)).toHaveLength(1)
        expect(await store.pruneRuns(T0 + 50_000)).toBe(1)
        expect((await store.getRun(live))?.state).toBe('RUNNING')
      })
    })

    describe('agents', () => agentStoreContract(init, () => store))

    describe('close', () => {
      it('refuses every call after close with STORE_UNAVAILABLE', async () => {
        const id = await seed()
        await store.close()
        closed = true
        await expect(store.commit({ ops: [start(id, 'a', 1)], events: [] })).rejects.toMatchObject({
          code: 'STORE_UNAVAILABLE',
        })
        await expect(store.getRun(id)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.listRuns()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.getTasks(id)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.getTask(id, tid('a'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.listEvents(id)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        const agent = agentRecord()
        await expect(store.saveAgent(agent, move(null, 'PENDING', T0))).rejects.toMatchObject({
          code: 'STORE_UNAVAILABLE',
        })
        await expect(store.getAgent(agent.id)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.listAgents()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.listAgentTransitions(agent.id)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
        await expect(store.pruneAgents(T0)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
      })

      it('can be closed twice', async () => {
        await store.close()
        await store.close()
        closed = true
      })
    })

    it('names its adapter', () => {
      expect(typeof store.kind).toBe('string')
      expect(store.kind.length).toBeGreaterThan(0)
      expect(typeof store.durable).toBe('boolean')
    })
  })
}
