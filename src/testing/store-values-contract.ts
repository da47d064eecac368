import { beforeEach, describe, expect, it } from 'vitest'
import type { SerializedError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import { newRunId, type RunId } from '../core/ids.js'
import type { RunState } from '../core/states.js'
import type { RunRecord, StoreOp, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { createOp, fail, logEvent, runState, seedRun, start, succeed, T0, tid } from './store-fixtures.js'

/**
 * The values part of the store contract: what goes in comes out equal (JSON
 * values of every shape, errors, events) and as copies. Run by
 * `storeContract` on the store `getStore()` returns.
 */
export function storeValuesContract(getStore: () => Store): void {
  let store: Store
  beforeEach(() => {
    store = getStore()
  })
  const seed = (state?: RunState, taskIds?: readonly string[], extra?: Partial<RunRecord>) =>
    seedRun(store, state, taskIds, extra)

  describe('values', () => {
    const values: [string, unknown][] = [
      ['a nested object', { a: { b: { c: [1, { d: 'e' }] } }, n: -1.5, t: true, f: false, z: 0 }],
      ['an array', [1, 'two', null, [3, [4]], { five: 5 }]],
      ['a unicode string', 'héllo wörld — 日本語 🚀 \u0000 "quoted" \\ back'],
      ['null', null],
      ['an empty object', {}],
      ['an empty array', []],
      ['an empty string', ''],
      ['zero', 0],
      ['false', false],
      ['a large number', 2 ** 53 - 1],
    ]
    it.each(values)('round-trips %s as a task output', async (_label, value) => {
      const id = await seed()
      await store.commit({ ops: [start(id, 'a', 1), succeed(id, 'a', 1, value)], events: [] })
      const task = await store.getTask(id, tid('a'))
      expect(task?.output).toEqual(value)
      expect(task?.output === null).toBe(value === null)
      expect((await store.getTasks(id))[0].output).toEqual(value)
    })

    it('round-trips the run input, definition, errors and event payloads', async () => {
      const input = { files: ['a.ts', 'ü.ts'], opts: { deep: { list: [null, 1, 'x'] } }, emoji: '✅' }
      const definition = { name: 'x', tasks: [{ id: 'a', agent: 'y', input: { $ref: 'input.files' } }] }
      const id = await seed('RUNNING', ['a'], { input, definition })
      const err: SerializedError = {
        code: 'AGENT_OUTPUT_INVALID',
        message: 'bad — 🚫',
        details: { path: 'a.b', list: [1, { x: null }] },
        retryable: false,
      }
      const event: RunEvent = {
        type: 'task.log',
        at: T0,
        runId: id,
        taskId: tid('a'),
        level: 'warn',
        message: 'note ✓',
        data: { nested: [1, { two: 2 }], none: null },
      }
      await store.commit({
        ops: [start(id, 'a', 1), fail(id, 'a', 1, true, err), runState(id, 'FAILED', T0 + 5, err)],
        events: [event],
      })
      const run = await store.getRun(id)
      expect(run?.input).toEqual(input)
      expect(run?.definition).toEqual(definition)
      expect(run?.error).toEqual(err)
      expect((await store.getTask(id, tid('a')))?.error).toEqual(err)
      expect((await store.listEvents(id))[0].event).toEqual(event)
    })

    async function seedWithOutput(): Promise<RunId> {
      const id = await seed()
      await store.commit({
        ops: [start(id, 'a', 1), succeed(id, 'a', 1, { list: [1, 2], inner: { v: 'x' } })],
        events: [logEvent(id, 'orig')],
      })
      return id
    }

    it('returns copies of runs: mutating a returned run does not change the store', async () => {
      const id = await seedWithOutput()
      const run = (await store.getRun(id))!
      run.state = 'CANCELLED'
      ;(run.input as { target: string }).target = 'mutated'
      ;(run.definition as { name: string }).name = 'mutated'
      const listed = (await store.listRuns({ workflow: `wf_${id}` }))[0]
      listed.workflow = 'other'
      ;(listed.input as { n: number }).n = 99
      expect(await store.getRun(id)).toMatchObject({
        state: 'RUNNING',
        workflow: `wf_${id}`,
        input: { target: 'src', n: 3 },
        definition: { name: `wf_${id}` },
      })
      expect((await store.listRuns({ workflow: `wf_${id}` }))[0]).toMatchObject({
        workflow: `wf_${id}`,
        input: { target: 'src', n: 3 },
      })
    })

    it('returns copies of tasks: mutating a returned task or its output does not change the store', async () => {
      const id = await seedWithOutput()
      const task = (await store.getTask(id, tid('a')))!
      task.state = 'FAILED'
      ;(task.output as { list: number[] }).list.push(3)
      ;(task.output as { inner: { v: string } }).inner.v = 'mutated'
      const tasks = await store.getTasks(id)
      tasks[0].attempt = 42
      ;(tasks[0].output as { list: number[] }).list.length = 0
      tasks.pop()
      expect(await store.getTask(id, tid('a'))).toMatchObject({
        state: 'SUCCEEDED',
        attempt: 1,
        output: { list: [1, 2], inner: { v: 'x' } },
      })
      expect(await store.getTasks(id)).toHaveLength(3)
    })

    it('returns copies of events: mutating a returned event does not change the store', async () => {
      const id = await seedWithOutput()
      const events = await store.listEvents(id)
      events[0].seq = 99
      ;(events[0].event as { message: string }).message = 'mutated'
      events.push({ seq: 2, event: logEvent(id, 'extra') })
      expect(await store.listEvents(id)).toEqual([{ seq: 1, event: logEvent(id, 'orig') }])
    })

    it('keeps what was committed: mutating the written objects afterwards does not change the store', async () => {
      const id = newRunId()
      const create = createOp(id, ['a']) as Extract<StoreOp, { op: 'run.create' }>
      const output = { list: [1, 2], inner: { v: 'x' } }
      const event = logEvent(id, 'orig')
      await store.commit({ ops: [create, start(id, 'a', 1), succeed(id, 'a', 1, output)], events: [event] })
      create.run.state = 'FAILED'
      ;(create.run.input as { target: string }).target = 'mutated'
      ;(create.tasks[0] as TaskRecord).priority = 'LOW'
      output.list.push(3)
      output.inner.v = 'mutated'
      ;(event as { message: string }).message = 'mutated'
      expect(await store.getRun(id)).toMatchObject({ state: 'PENDING', input: { target: 'src', n: 3 } })
      expect(await store.getTask(id, tid('a'))).toMatchObject({
        priority: 'MEDIUM',
        output: { list: [1, 2], inner: { v: 'x' } },
      })
      expect((await store.listEvents(id))[0].event).toMatchObject({ message: 'orig' })
    })
  })
}
