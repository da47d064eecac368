import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { AgentContext } from '../../src/agents/context.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { ref, workflow } from '../../src/workflows/builder.js'
import { deferred, flush } from './helpers.js'

interface Call {
  task: string
  attempt: number
  key: string
  process: string
}

/** Agents whose handlers record their calls; `block` makes the named task hang (a crash stand-in). */
function agents(calls: Call[], process: string, block?: string) {
  return [
    defineAgent({
      name: 'step',
      handler: async (input: { x: number; name: string }, ctx: AgentContext) => {
        calls.push({ task: ctx.taskId, attempt: ctx.attempt, key: ctx.idempotencyKey, process })
        if (ctx.taskId === block) await new Promise(() => undefined)
        return { x: input.x + 1, by: input.name }
      },
    }),
  ]
}

const chain = workflow('chain')
  .task('a', { agent: 'step', input: { x: 0, name: 'a' } })
  .task('b', { agent: 'step', input: { x: ref('a', 'x'), name: 'b' } })
  .task('c', { agent: 'step', input: { x: ref('b', 'x'), name: 'c' } })
  .build()

async function crashDuring(task: string, store: MemoryStore, calls: Call[]): Promise<string> {
  const first = new Orchestrator({ store })
  for (const a of agents(calls, 'first', task)) await first.register(a)
  const h = first.start(chain)
  for (let i = 0; i < 50 && !calls.some((c) => c.task === task); i++) await flush(1)
  expect(calls.some((c) => c.task === task)).toBe(true)
  return h.id
}

describe('recovery', () => {
  it('resumes an unfinished run in a new orchestrator: stored results kept, the running task re-run with attempt + 1 and the same key', async () => {
    const store = new MemoryStore()
    const calls: Call[] = []
    const runId = await crashDuring('b', store, calls)
    expect(await store.getTask(runId as never, 'b' as never)).toMatchObject({ state: 'RUNNING', attempt: 1 })

    const second = new Orchestrator({ store })
    for (const a of agents(calls, 'second')) await second.register(a)
    const handles = await second.recover()
    expect(handles.map((h) => h.id)).toEqual([runId])
    const result = await handles[0].result
    expect(result.state).toBe('SUCCEEDED')
    expect(result.output('c')).toEqual({ x: 3, by: 'c' })
    expect(calls.filter((c) => c.task === 'a')).toHaveLength(1)
    const b = calls.filter((c) => c.task === 'b')
    expect(b.map((c) => [c.attempt, c.process])).toEqual([
      [1, 'first'],
      [2, 'second'],
    ])
    expect(new Set(b.map((c) => c.key)).size).toBe(1)
    const stored = await store.getTasks(runId as never)
    expect(stored.map((t) => [t.taskId, t.state, t.attempt])).toEqual([
      ['a', 'SUCCEEDED', 1],
      ['b', 'SUCCEEDED', 2],
      ['c', 'SUCCEEDED', 1],
    ])
    const events = (await store.listEvents(runId as never)).map((e) => e.event.type)
    expect(events).toContain('run.recovered')
    expect((await second.recover()).length).toBe(0)
  })

  it('keeps a paused run paused until it is resumed', async () => {
    const store = new MemoryStore()
    const calls: Call[] = []
    const gate = deferred()
    const first = new Orchestrator({ store })
    await first.register(
      defineAgent({
        name: 'step',
        handler: async (input: { x: number; name: string }, ctx: AgentContext) => {
          calls.push({ task: ctx.taskId, attempt: ctx.attempt, key: ctx.idempotencyKey, process: 'first' })
          if (ctx.taskId === 'a') await gate.promise
          return { x: input.x + 1, by: input.name }
        },
      }),
    )
    const h = first.start(chain)
    await flush(2)
    h.pause()
    gate.resolve()
    await flush(3)
    expect((await store.getRun(h.id))?.state).toBe('PAUSED')
    const second = new Orchestrator({ store })
    for (const a of agents(calls, 'second')) await second.register(a)
    const [recovered] = await second.recover()
    await flush(3)
    expect(calls.filter((c) => c.process === 'second')).toHaveLength(0)
    recovered.resume()
    expect((await recovered.result).output('c')).toEqual({ x: 3, by: 'c' })
  })

  it('refuses to recover a finished run (RUN_STATE_INVALID) or an unknown one (RUN_NOT_FOUND)', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    for (const a of agents([], 'x')) await o.register(a)
    const done = await o.run(chain)
    await expect(o.recover({ runIds: [done.runId] })).rejects.toMatchObject({ code: 'RUN_STATE_INVALID' })
    await expect(o.recover({ runIds: ['run_nope'] })).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
  })
})

describe('replay', () => {
  it('keeps stored results before --from, re-runs the rest, and records the parent run', async () => {
    const calls: Call[] = []
    const o = new Orchestrator({ store: new MemoryStore() })
    for (const a of agents(calls, 'p')) await o.register(a)
    const original = await o.run(chain)
    calls.length = 0
    const h = await o.replay(original.runId, { from: ['b'] })
    const result = await h.result
    expect(result.state).toBe('SUCCEEDED')
    expect(calls.map((c) => c.task)).toEqual(['b', 'c'])
    expect(result.output('a')).toEqual({ x: 1, by: 'a' })
    expect((await o.getRun(h.id)).parentRunId).toBe(original.runId)
  })

  it('applies --set changes to a task and re-runs it and its downstream only', async () => {
    const calls: Call[] = []
    const o = new Orchestrator({ store: new MemoryStore() })
    for (const a of agents(calls, 'p')) await o.register(a)
    const original = await o.run(chain)
    calls.length = 0
    const result = await (
      await o.replay(original.runId, { set: { b: { input: { x: ref('a', 'x'), name: 'B2' } } } })
    ).result
    expect(calls.map((c) => c.task)).toEqual(['b', 'c'])
    expect(result.output('b')).toEqual({ x: 2, by: 'B2' })
  })

  it('names an unknown task with VALIDATION_FAILED and stores nothing', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    for (const a of agents([], 'p')) await o.register(a)
    const original = await o.run(chain)
    await expect(o.replay(original.runId, { from: ['nope'] })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    expect(await o.listRuns()).toHaveLength(1)
  })
})

describe('prune', () => {
  it('deletes finished runs older than the limit', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    for (const a of agents([], 'p')) await o.register(a)
    await o.run(chain)
    expect(await o.prune(60_000)).toBe(0)
    await new Promise((r) => setTimeout(r, 5))
    expect(await o.prune(1)).toBe(1)
    expect(await o.listRuns()).toHaveLength(0)
    expect(() => o.prune(-1)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
  })
})

describe('controlling a stored run whose process is gone', () => {
  it('pause marks it PAUSED (recovery keeps it paused); resume recovers it here and finishes it', async () => {
    const store = new MemoryStore()
    const calls: Call[] = []
    const runId = await crashDuring('b', store, calls)
    const second = new Orchestrator({ store })
    for (const a of agents(calls, 'second')) await second.register(a)
    await second.pause(runId)
    expect((await store.getRun(runId as never))?.state).toBe('PAUSED')
    await expect(second.pause(runId)).rejects.toMatchObject({ code: 'RUN_STATE_INVALID' })
    const handle = await second.resume(runId)
    const result = await handle.result
    expect(result.state).toBe('SUCCEEDED')
    expect(calls.filter((c) => c.process === 'second').map((c) => [c.task, c.attempt])).toEqual([
      ['b', 2],
      ['c', 1],
    ])
  })

  it('cancel marks it and its unfinished tasks CANCELLED, and recovery skips it', async () => {
    const store = new MemoryStore()
    const calls: Call[] = []
    const runId = await crashDuring('b', store, calls)
    const second = new Orchestrator({ store })
    for (const a of agents(calls, 'second')) await second.register(a)
    await second.cancel(runId, 'operator said so')
    expect((await store.getRun(runId as never))?.state).toBe('CANCELLED')
    expect((await store.getTasks(runId as never)).map((t) => t.state)).toEqual(['SUCCEEDED', 'CANCELLED', 'CANCELLED'])
    expect(await second.recover()).toHaveLength(0)
    await expect(second.cancel(runId)).rejects.toMatchObject({ code: 'RUN_STATE_INVALID' })
    await expect(second.resume(runId)).rejects.toMatchObject({ code: 'RUN_STATE_INVALID' })
    await expect(second.cancel('run_unknown')).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
  })
})
