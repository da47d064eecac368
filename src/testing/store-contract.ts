import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { FlotillaEvent } from '../core/events.js'
import { newRunId, type RunId } from '../core/ids.js'
import type { RunState } from '../core/states.js'
import type { RunRecord, StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'
import { agentRecord, agentStoreContract, move } from './agent-store-contract.js'
import { storeFencingContract } from './store-fencing-contract.js'
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
        const started: FlotillaEvent = { type: 'run.started', at: T0, runId: id, workflow: `wf_${id}`, tasks: 1 }
        await store.commit({ ops: [createOp(id, ['a'])], events: [started] })
        expect(await store.listEvents(id)).toEqual([{ seq: 1, event: started }])
      })

      it('pages with afterSeq and limit', async () => {
        const id = await seed()
        await store.commit({ ops: [], events: Array.from({ length: 10 }, (_, i) => logEvent(id, `m${i + 1}`)) })
        const seqs = async (o: { afterSeq?: number; limit?: number }) =>
          (await store.listEvents(id, o)).map((e) => e.seq)
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

    storeValuesContract(() => store)

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
