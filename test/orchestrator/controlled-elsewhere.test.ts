import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { workflow } from '../../src/workflows/builder.js'
import { Gates, flush } from './helpers.js'

/**
 * A run paused or cancelled by another process while a handler runs: the
 * handler's result is refused by the store, and the run's result here must
 * say what the store says (no task counted as succeeded whose result was not
 * stored), and must settle even when the refused batch held the run's final
 * state.
 */
async function setUp(tasks: string[]) {
  const store = new MemoryStore()
  const here = new Orchestrator({ store })
  const there = new Orchestrator({ store })
  const gates = new Gates()
  await here.register(
    defineAgent({
      name: 'g',
      handler: async (_x: unknown, ctx) => {
        await gates.pass(ctx.taskId)
        return { done: ctx.taskId }
      },
    }),
  )
  // A chain of any length: the builder's typed ids are not needed here.
  interface Chain {
    task(id: string, options: { agent: string; dependsOn?: string[] }): Chain
    build(): ReturnType<ReturnType<typeof workflow>['build']>
  }
  let wf = workflow('elsewhere') as unknown as Chain
  tasks.forEach((t, i) => (wf = wf.task(t, { agent: 'g', ...(i > 0 ? { dependsOn: [tasks[i - 1]] } : {}) })))
  const handle = here.start(wf.build())
  return { store, here, there, gates, handle }
}

async function stored(store: MemoryStore, runId: string) {
  const tasks = await store.getTasks(runId as never)
  return { run: await store.getRun(runId as never), states: Object.fromEntries(tasks.map((t) => [t.taskId, t.state])) }
}

describe('a run controlled from another process while a handler runs', () => {
  it('paused: the refused result does not count as succeeded, and the counts equal the store', async () => {
    const { store, there, gates, handle } = await setUp(['a', 'b', 'c'])
    await flush()
    gates.release('a')
    await flush()
    expect(gates.open).toEqual(['b'])
    await there.pause(handle.id)
    gates.release('b')
    const result = await handle.result
    expect(result.state).toBe('PAUSED')
    expect(result.error?.code).toBe('RUN_INTERRUPTED')
    const inStore = await stored(store, handle.id)
    expect(inStore.run?.state).toBe('PAUSED')
    expect(inStore.states).toEqual({ a: 'SUCCEEDED', b: 'RUNNING', c: 'PENDING' })
    expect(Object.fromEntries(Object.entries(result.tasks).map(([id, t]) => [id, t.state]))).toEqual(inStore.states)
    expect(result.tasks.b.output).toBeUndefined()
  })

  it('cancelled while the last task runs: the run settles CANCELLED (its refused final state is taken back)', async () => {
    const { store, there, gates, handle } = await setUp(['only'])
    await flush()
    expect(gates.open).toEqual(['only'])
    await there.cancel(handle.id)
    gates.release('only')
    const result = await Promise.race([
      handle.result,
      new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 5_000)),
    ])
    expect(result).not.toBe('stuck')
    if (result === 'stuck') return
    expect(result.state).toBe('CANCELLED')
    expect(result.tasks.only.state).toBe('CANCELLED')
    expect(result.tasks.only.output).toBeUndefined()
    expect((await stored(store, handle.id)).run?.state).toBe('CANCELLED')
  })

  it('paused while the last task runs: its result is stored, and the run ends as the store says', async () => {
    const { store, there, gates, handle } = await setUp(['only'])
    await flush()
    await there.pause(handle.id)
    gates.release('only')
    const result = await handle.result
    const inStore = await stored(store, handle.id)
    expect(result.state).toBe(inStore.run?.state)
    expect(result.tasks.only.state).toBe(inStore.states.only)
  })

  it('cancelled: the unfinished tasks are CANCELLED here as in the store', async () => {
    const { store, there, gates, handle } = await setUp(['a', 'b'])
    await flush()
    await there.cancel(handle.id)
    gates.release('a')
    const result = await handle.result
    expect(result.state).toBe('CANCELLED')
    const inStore = await stored(store, handle.id)
    expect(inStore.run?.state).toBe('CANCELLED')
    expect(Object.fromEntries(Object.entries(result.tasks).map(([id, t]) => [id, t.state]))).toEqual(inStore.states)
  })
})
