import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { defineAgent, type AnyAgentDefinition } from '../../src/agents/define-agent.js'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import type { ModelCalledEvent, RunEvent, RunPausedEvent } from '../../src/core/events.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Client } from '../../src/orchestrator/client.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { workflow } from '../../src/workflows/builder.js'

// Debug mode on real runs: break on error pauses the run at a task about to
// fail for good, stored, so that a resume (here, in another orchestrator, or
// through a worker) retries it; debug keeps whole model answers and the
// conversation sent.

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

/** An agent failing its first `failures` calls (counted across processes of the test through the closure). */
function flaky(failures: number): { agent: AnyAgentDefinition; calls: () => number } {
  let calls = 0
  const agent = defineAgent({
    name: 'flaky',
    handler: (x: number) => {
      calls++
      if (calls <= failures) throw new Error(`failure ${calls}`)
      return x * 2
    },
  })
  return { agent, calls: () => calls }
}

const wf = () =>
  workflow('debugged')
    .task('first', { agent: 'flaky', input: 21, retry: { maxAttempts: 2, initialDelayMs: 0 } })
    .task('after', { agent: 'echo2', input: 1, dependsOn: ['first'] })
    .build()
const echo = defineAgent({ name: 'echo2', handler: (x: number) => x })

async function until<T>(
  get: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await get()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const stores = [
  { name: 'memory', open: () => Promise.resolve('memory') },
  { name: 'SQLite', open: async () => join(await mkdtemp(join(tmpdir(), 'debug-')), 'flotilla.db') },
]

describe.each(stores)('break on error ($name)', ({ open }) => {
  it('pauses the run at a task about to fail for good, then resume retries that task', async () => {
    const o = new Orchestrator({ store: await open() })
    closers.push(() => o.close())
    const { agent, calls } = flaky(2)
    await o.register(agent)
    await o.register(echo)
    const events: RunEvent[] = []
    const handle = o.start(wf(), undefined, { breakOnError: true, onEvent: (e) => events.push(e) })
    const paused = await until(() => events.find((e): e is RunPausedEvent => e.type === 'run.paused'), 'the break')
    expect(paused).toMatchObject({
      reason: 'break on error',
      taskId: 'first',
      attempt: 2,
      error: { message: 'failure 2' },
    })
    expect(events.map((e) => e.type)).toContain('task.retrying') // the first failure was retried as usual
    expect(events.map((e) => e.type)).not.toContain('task.failed')
    await until(async () => ((await o.getRun(handle.id)).state === 'PAUSED' ? true : undefined), 'the stored pause')
    const task = (await o.getTasks(handle.id)).find((t) => t.taskId === 'first')!
    expect(task).toMatchObject({ state: 'RETRYING', attempt: 2, error: { message: 'failure 2' } })
    expect(calls()).toBe(2)
    const [started] = await o.listEvents(handle.id, { limit: 1 })
    expect(started.event).toMatchObject({ type: 'run.started', breakOnError: true })

    await o.resume(handle.id)
    const result = await handle.result
    expect(result.state).toBe('SUCCEEDED')
    expect(result.output('first')).toBe(42)
    expect((await o.getTasks(handle.id)).find((t) => t.taskId === 'first')).toMatchObject({ attempt: 3 })
  })

  it('without breakOnError the run fails as before', async () => {
    const o = new Orchestrator({ store: await open() })
    closers.push(() => o.close())
    await o.register(flaky(2).agent)
    await o.register(echo)
    const result = await o.run(wf())
    expect(result.state).toBe('FAILED')
  })
})

describe('break on error across processes (SQLite)', () => {
  it('a run paused at a break is resumed by another orchestrator, which breaks again if the task fails again', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'debug-')), 'flotilla.db')
    const a = new Orchestrator({ store: file })
    const { agent } = flaky(3)
    await a.register(agent)
    await a.register(echo)
    const events: RunEvent[] = []
    const handle = a.start(wf(), undefined, { breakOnError: true, onEvent: (e) => events.push(e) })
    await until(() => events.find((e) => e.type === 'run.paused'), 'the break')
    await until(async () => ((await a.getRun(handle.id)).state === 'PAUSED' ? true : undefined), 'the stored pause')
    await a.close()

    const b = new Orchestrator({ store: file })
    closers.push(() => b.close())
    await b.register(agent) // the third call fails again: another break
    await b.register(echo)
    const seen: RunEvent[] = []
    b.on('*', (e) => {
      if ('runId' in e) seen.push(e as RunEvent)
    })
    await b.resume(handle.id)
    const again = await until(
      () => seen.find((e): e is RunPausedEvent => e.type === 'run.paused' && e.attempt === 3),
      'the second break',
    )
    expect(again).toMatchObject({ reason: 'break on error', taskId: 'first', error: { message: 'failure 3' } })
    await until(async () => ((await b.getRun(handle.id)).state === 'PAUSED' ? true : undefined), 'the stored pause')
    const resumed = await b.resume(handle.id)
    const result = await resumed.result
    expect(result.state).toBe('SUCCEEDED')
    expect(result.output('first')).toBe(42)
  })

  it('a worker honours it: the run a client started pauses at the break, and a client resume retries the task', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'debug-')), 'flotilla.db')
    const worker = new Worker({ store: file })
    closers.push(() => worker.stop())
    const { agent } = flaky(2)
    await worker.register(agent)
    await worker.register(echo)
    await worker.start()
    const client = await Client.connect(file)
    closers.push(() => client.close())
    const runId = await client.start(wf(), undefined, { breakOnError: true })
    await until(async () => ((await client.getRun(runId)).state === 'PAUSED' ? true : undefined), 'the stored pause')
    const events = (await client.listEvents(runId)).map((e) => e.event)
    expect(events.find((e) => e.type === 'run.paused')).toMatchObject({ reason: 'break on error', taskId: 'first' })
    expect(events.map((e) => e.type)).not.toContain('task.failed')
    await client.resume(runId)
    const done = await client.result(runId, { timeoutMs: 20_000 })
    expect(done.state).toBe('SUCCEEDED')
  })

  it('a worker breaks again when the retry after a client resume fails too (it has not yet seen the resume)', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'debug-')), 'flotilla.db')
    const worker = new Worker({ store: file })
    closers.push(() => worker.stop())
    const { agent, calls } = flaky(3)
    await worker.register(agent)
    await worker.register(echo)
    await worker.start()
    const client = await Client.connect(file)
    closers.push(() => client.close())
    const runId = await client.start(wf(), undefined, { breakOnError: true })
    const pauses = async (): Promise<number> =>
      (await client.listEvents(runId)).filter((e) => e.event.type === 'run.paused').length
    await until(async () => ((await client.getRun(runId)).state === 'PAUSED' ? true : undefined), 'the stored pause')
    await client.resume(runId)
    await until(async () => ((await pauses()) === 2 ? true : undefined), 'the second break')
    expect((await client.getRun(runId)).state).toBe('PAUSED')
    const second = (await client.listEvents(runId)).map((e) => e.event).filter((e) => e.type === 'run.paused')[1]
    expect(second).toMatchObject({ reason: 'break on error', taskId: 'first', attempt: 3 })
    expect(calls()).toBe(3)
    await client.resume(runId)
    expect((await client.result(runId, { timeoutMs: 20_000 })).state).toBe('SUCCEEDED')
  })
})

describe('debug mode', () => {
  const long = 'x'.repeat(3000)
  const agent = () =>
    defineLlmAgent({
      name: 'talker',
      model: scriptedModel([{ text: long }], { repeatLast: true }),
      system: 'Be brief.',
    })

  it('keeps whole answers and the conversation sent in model.called; without it, answers are cut', async () => {
    const o = new Orchestrator({ store: 'memory' })
    closers.push(() => o.close())
    await o.register(agent())
    const calls: ModelCalledEvent[] = []
    o.on('model.called', (e) => calls.push(e))
    const one = workflow('talk').task('t', { agent: 'talker', input: 'hello there' }).build()
    await o.run(one, undefined, { debug: true })
    await o.run(one)
    const [debugged, plain] = calls
    expect(debugged.answer).toEqual([{ type: 'text', text: long }])
    expect(JSON.stringify(debugged.prompt)).toContain('hello there')
    expect(JSON.stringify(debugged.prompt)).toContain('Be brief.')
    expect((plain.answer![0] as { text: string }).text).toHaveLength(2001)
    expect(plain.prompt).toBeUndefined()
    const stored = (await o.listEvents(debugged.runId)).find((e) => e.event.type === 'model.called')!.event
    expect((stored as ModelCalledEvent).answer).toEqual([{ type: 'text', text: long }])
    const [started] = await o.listEvents(debugged.runId, { limit: 1 })
    expect(started.event).toMatchObject({ type: 'run.started', debug: true })
  })
})
