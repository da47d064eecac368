import { describe, expect, it } from 'vitest'
import type { FlotillaEvent } from '../../src/core/events.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { ref, workflow } from '../../src/workflows/builder.js'
import { agent, flush, Gates, within } from './helpers.js'

async function team(): Promise<{ o: Orchestrator; gates: Gates; seen: Map<string, unknown> }> {
  const o = new Orchestrator()
  const gates = new Gates()
  const seen = new Map<string, unknown>()
  await o.register(agent('ok', (x, ctx) => (seen.set(ctx.taskId, x), x ?? ctx.taskId)))
  await o.register(
    agent('bad', () => {
      throw new Error('bad things')
    }),
  )
  await o.register(agent('gate', (x, ctx) => gates.pass(ctx.taskId, x)))
  return { o, gates, seen }
}

/** Calls `fn`, turning a synchronous throw into a rejection (by-id controls may be sync or async). */
const attempt = async (fn: () => unknown): Promise<unknown> => fn()

const stateOf = async (o: Orchestrator, runId: string): Promise<Record<string, string>> =>
  Object.fromEntries((await o.getTasks(runId)).map((t) => [t.taskId, t.state]))

describe('continueOnFailure', () => {
  it('lets the run succeed; the failed task is FAILED and its dependent runs and sees undefined', async () => {
    const { o, seen } = await team()
    const events: FlotillaEvent[] = []
    const wf = workflow('tolerant')
      .task('flaky', { agent: 'bad', continueOnFailure: true })
      .task('fine', { agent: 'ok', input: 'fine' })
      .task('after', { agent: 'ok', input: { upstream: ref('flaky'), other: ref('fine') } })
      .build()
    const result = await o.run(wf, undefined, { onEvent: (e) => events.push(e) })
    expect(result.state).toBe('SUCCEEDED')
    expect(result.error).toBeUndefined()
    expect(result.tasks.flaky).toMatchObject({ state: 'FAILED', error: { code: 'TASK_FAILED', message: 'bad things' } })
    expect(seen.get('after')).toEqual({ upstream: undefined, other: 'fine' })
    expect(await stateOf(o, result.runId)).toEqual({ flaky: 'FAILED', fine: 'SUCCEEDED', after: 'SUCCEEDED' })
    expect((await o.getRun(result.runId)).state).toBe('SUCCEEDED')
    expect(events.find((e) => e.type === 'task.failed')).toMatchObject({ taskId: 'flaky', tolerated: true })
    expect(result.summary.successRate).toBeCloseTo(2 / 3)
    expect(result.outputs).toEqual({ fine: 'fine', after: { upstream: undefined, other: 'fine' } })
  })

  it('without it, fails the run with the task error, cancels the rest and names the task', async () => {
    const { o, gates } = await team()
    const signals: AbortSignal[] = []
    await o.register(agent('watch', (_x, ctx) => (signals.push(ctx.signal), gates.pass(ctx.taskId))))
    const wf = workflow('strict')
      .task('slow', { agent: 'watch' })
      .task('boom', { agent: 'gate' })
      .task('after', { agent: 'ok', dependsOn: ['boom'] })
      .task('later', { agent: 'ok', dependsOn: ['slow'] })
      .build()
    const h = o.start(wf)
    await flush()
    expect(gates.open.sort()).toEqual(['boom', 'slow'])
    gates.fail('boom', new Error('kaput'))
    const result = await within(h.result)
    expect(result.state).toBe('FAILED')
    expect(result.error?.code).toBe('TASK_FAILED')
    expect(result.error?.message).toContain('Task "boom" failed: kaput')
    expect(result.error?.details).toMatchObject({ taskId: 'boom' })
    expect(signals[0].aborted).toBe(true)
    expect(signals[0].reason).toMatchObject({ code: 'TASK_CANCELLED' })
    expect(await stateOf(o, h.id)).toEqual({
      slow: 'CANCELLED',
      boom: 'FAILED',
      after: 'CANCELLED',
      later: 'CANCELLED',
    })
    const run = await o.getRun(h.id)
    expect(run.state).toBe('FAILED')
    expect(run.error).toMatchObject({ code: 'TASK_FAILED', details: { taskId: 'boom' } })
    expect(run.error?.message).toContain('boom')
    expect(result.summary.counts).toEqual({ succeeded: 0, failed: 1, skipped: 0, cancelled: 3 })
    // The cancelled handler resolving afterwards changes nothing.
    gates.release('slow', 'late')
    await flush()
    expect(await stateOf(o, h.id)).toMatchObject({ slow: 'CANCELLED' })
    expect((await o.getTasks(h.id))[0].output).toBeUndefined()
  })
})

describe('conditions', () => {
  it('skips a task whose condition is false; its dependents still run', async () => {
    const { o, seen } = await team()
    const wf = workflow('cond')
      .task('count', { agent: 'ok', input: { n: 0 } })
      .task('fix', { agent: 'ok', input: 'fixing', when: 'tasks.count.output.n > 0' })
      .task('report', { agent: 'ok', input: { fixed: ref('fix') } })
      .build()
    const result = await o.run(wf)
    expect(result.state).toBe('SUCCEEDED')
    expect(seen.has('fix')).toBe(false)
    expect(result.tasks.fix.state).toBe('SKIPPED')
    expect(seen.get('report')).toEqual({ fixed: undefined })
    expect(await stateOf(o, result.runId)).toEqual({ count: 'SUCCEEDED', fix: 'SKIPPED', report: 'SUCCEEDED' })
    const skipped = (await o.listEvents(result.runId)).map((e) => e.event).find((e) => e.type === 'task.skipped')
    expect(skipped).toMatchObject({ taskId: 'fix', reason: 'condition "tasks.count.output.n > 0" is false' })
    expect(result.summary.counts.skipped).toBe(1)
    expect(result.summary.successRate).toBe(1)
  })

  it('runs a task whose condition is true, reading the run input too', async () => {
    const { o, seen } = await team()
    const wf = workflow('cond2')
      .task('count', { agent: 'ok', input: { n: 3 } })
      .task('fix', { agent: 'ok', input: 'fixing', when: 'tasks.count.output.n > 0 && input.apply == true' })
      .build()
    const yes = await o.run(wf, { apply: true })
    expect(yes.tasks.fix.state).toBe('SUCCEEDED')
    expect(seen.get('fix')).toBe('fixing')
    const no = await o.run(wf, { apply: false })
    expect(no.tasks.fix.state).toBe('SKIPPED')
  })

  it('skips a whole chain of false conditions without running anything', async () => {
    const { o, seen } = await team()
    const wf = workflow('cond3')
      .task('a', { agent: 'ok', when: 'input.go' })
      .task('b', { agent: 'ok', dependsOn: ['a'], when: 'tasks.a.output' })
      .build()
    const result = await o.run(wf, { go: false })
    expect(result.state).toBe('SUCCEEDED')
    expect(seen.size).toBe(0)
    expect(await stateOf(o, result.runId)).toEqual({ a: 'SKIPPED', b: 'SKIPPED' })
  })
})

describe('pause and resume', () => {
  it('starts no new task while paused, lets running ones finish, and continues on resume', async () => {
    const { o, gates } = await team()
    const wf = workflow('pause')
      .task('a', { agent: 'gate' })
      .task('b', { agent: 'gate' })
      .task('c', { agent: 'gate' })
      .task('d', { agent: 'gate', dependsOn: ['a'] })
      .build()
    const events: string[] = []
    const h = o.start(wf, undefined, { concurrency: 2, onEvent: (e) => events.push(e.type) })
    await flush()
    expect(gates.open).toEqual(['a', 'b'])
    h.pause()
    await flush()
    expect((await o.getRun(h.id)).state).toBe('PAUSED')
    gates.release('a')
    gates.release('b')
    await flush()
    expect(gates.open).toEqual([])
    expect(await stateOf(o, h.id)).toEqual({ a: 'SUCCEEDED', b: 'SUCCEEDED', c: 'PENDING', d: 'PENDING' })
    expect(h.progress()).toMatchObject({ done: 2, counts: { RUNNING: 0, SUCCEEDED: 2 } })
    expect(gates.started).toEqual(['a', 'b'])
    expect(() => h.pause()).toThrow(expect.objectContaining({ code: 'RUN_STATE_INVALID' }))
    h.resume()
    await flush()
    expect((await o.getRun(h.id)).state).toBe('RUNNING')
    expect(gates.open.sort()).toEqual(['c', 'd'])
    gates.releaseAll()
    const result = await within(h.result)
    expect(result.ok).toBe(true)
    expect(events).toContain('run.paused')
    expect(events).toContain('run.resumed')
    expect(events.indexOf('run.paused')).toBeLessThan(events.indexOf('run.resumed'))
  })

  it('pauses and resumes through the orchestrator by run id', async () => {
    const { o, gates } = await team()
    const h = o.start(
      workflow('pause2')
        .task('a', { agent: 'gate' })
        .task('b', { agent: 'gate', dependsOn: ['a'] })
        .build(),
    )
    await flush()
    await o.pause(h.id)
    gates.release('a')
    await flush()
    expect(gates.open).toEqual([])
    await expect(attempt(() => o.resume('run_unknown'))).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
    await o.resume(h.id)
    await flush()
    expect(gates.open).toEqual(['b'])
    gates.release('b')
    expect((await within(h.result)).ok).toBe(true)
  })

  it('refuses to resume a running run and to pause, resume or cancel a finished one (RUN_STATE_INVALID)', async () => {
    const { o, gates } = await team()
    const h = o.start(workflow('pause3').task('a', { agent: 'gate' }).build())
    await flush()
    expect(() => h.resume()).toThrow(expect.objectContaining({ code: 'RUN_STATE_INVALID' }))
    gates.release('a')
    await within(h.result)
    expect(() => h.pause()).toThrow(expect.objectContaining({ code: 'RUN_STATE_INVALID' }))
    expect(() => h.resume()).toThrow(expect.objectContaining({ code: 'RUN_STATE_INVALID' }))
    expect(() => h.cancel()).toThrow(expect.objectContaining({ code: 'RUN_STATE_INVALID' }))
    expect((await o.getRun(h.id)).state).toBe('SUCCEEDED')
  })

  it('answers RUN_STATE_INVALID (not RUN_NOT_FOUND) to orchestrator.pause of a stored, finished run', async () => {
    const { o } = await team()
    const result = await o.run(workflow('pause4').task('a', { agent: 'ok' }).build())
    expect((await o.getRun(result.runId)).state).toBe('SUCCEEDED')
    await expect(attempt(() => o.pause(result.runId))).rejects.toMatchObject({ code: 'RUN_STATE_INVALID' })
    await expect(attempt(() => o.resume(result.runId))).rejects.toMatchObject({ code: 'RUN_STATE_INVALID' })
    await expect(attempt(() => o.cancel(result.runId))).rejects.toMatchObject({ code: 'RUN_STATE_INVALID' })
    await expect(attempt(() => o.pause('run_never_existed'))).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
  })
})

describe('cancel', () => {
  it('aborts running handlers, cancels every unfinished task and ignores late results', async () => {
    const { o, gates } = await team()
    const signals = new Map<string, AbortSignal>()
    await o.register(agent('watch', (_x, ctx) => (signals.set(ctx.taskId, ctx.signal), gates.pass(ctx.taskId))))
    const wf = workflow('cancel')
      .task('done', { agent: 'ok' })
      .task('r1', { agent: 'watch', dependsOn: ['done'] })
      .task('r2', { agent: 'watch', dependsOn: ['done'] })
      .task('pending', { agent: 'ok', dependsOn: ['r1'] })
      .build()
    const events: FlotillaEvent[] = []
    const h = o.start(wf, undefined, { onEvent: (e) => events.push(e) })
    await flush()
    expect(gates.open.sort()).toEqual(['r1', 'r2'])
    h.cancel('the user changed their mind')
    const result = await within(h.result)
    expect(result.state).toBe('CANCELLED')
    for (const id of ['r1', 'r2']) {
      expect(signals.get(id)!.aborted).toBe(true)
      expect(signals.get(id)!.reason).toMatchObject({ code: 'TASK_CANCELLED' })
    }
    expect(await stateOf(o, h.id)).toEqual({
      done: 'SUCCEEDED',
      r1: 'CANCELLED',
      r2: 'CANCELLED',
      pending: 'CANCELLED',
    })
    expect(await o.getRun(h.id)).toMatchObject({ state: 'CANCELLED' })
    expect(events.find((e) => e.type === 'run.cancelled')).toMatchObject({ reason: 'the user changed their mind' })
    expect(
      events
        .filter((e) => e.type === 'task.cancelled')
        .map((e) => e.taskId)
        .sort(),
    ).toEqual(['pending', 'r1', 'r2'])
    expect(result.error?.code).toBe('TASK_CANCELLED')
    gates.release('r1', 'late')
    gates.fail('r2', new Error('late failure'))
    await flush()
    expect(await stateOf(o, h.id)).toEqual({
      done: 'SUCCEEDED',
      r1: 'CANCELLED',
      r2: 'CANCELLED',
      pending: 'CANCELLED',
    })
    expect((await o.getTasks(h.id))[1]).toMatchObject({ output: undefined, error: undefined })
    expect(result.output('r1')).toBeUndefined()
    expect(() => h.cancel()).toThrow(expect.objectContaining({ code: 'RUN_STATE_INVALID' }))
  })

  it('cancels a run waiting on a retry backoff and a paused run', async () => {
    const { o, gates } = await team()
    let calls = 0
    await o.register(
      agent('flaky', () => {
        calls++
        throw new Error('again')
      }),
    )
    const backoff = o.start(
      workflow('c2')
        .task('t', { agent: 'flaky', retry: { maxAttempts: 5, initialDelayMs: 60_000 } })
        .build(),
    )
    await flush()
    expect((await o.getTasks(backoff.id))[0].state).toBe('RETRYING')
    await o.cancel(backoff.id, 'stop waiting')
    expect((await within(backoff.result)).state).toBe('CANCELLED')
    expect((await o.getTasks(backoff.id))[0].state).toBe('CANCELLED')
    expect(calls).toBe(1)

    const paused = o.start(
      workflow('c3')
        .task('a', { agent: 'gate' })
        .task('b', { agent: 'gate', dependsOn: ['a'] })
        .build(),
    )
    await flush()
    paused.pause()
    gates.release('a')
    await flush()
    paused.cancel()
    expect((await within(paused.result)).state).toBe('CANCELLED')
    expect(await stateOf(o, paused.id)).toEqual({ a: 'SUCCEEDED', b: 'CANCELLED' })
    expect(gates.open).toEqual([])
  })
})

describe('close', () => {
  it('with cancelRuns, cancels the runs in flight (aborting their handlers) before closing the store, and refuses new runs', async () => {
    const { o, gates } = await team()
    const signals: AbortSignal[] = []
    await o.register(agent('watch', (_x, ctx) => (signals.push(ctx.signal), gates.pass(ctx.taskId))))
    const h = o.start(
      workflow('closing')
        .task('a', { agent: 'watch' })
        .task('b', { agent: 'ok', dependsOn: ['a'] })
        .build(),
    )
    await flush()
    expect(gates.open).toEqual(['a'])
    await within(o.close({ cancelRuns: true }))
    expect(signals[0].aborted).toBe(true)
    const result = await within(h.result)
    expect(result.state).toBe('CANCELLED')
    expect(result.tasks.b.state).toBe('CANCELLED')
    expect(() => o.start(workflow('after-close').task('a', { agent: 'ok' }).build())).toThrow(
      expect.objectContaining({ code: 'RUN_STATE_INVALID' }),
    )
    await within(o.close())
  })
})

describe('close without cancelRuns', () => {
  it('leaves the runs in flight unfinished in the store for recovery, aborting their handlers', async () => {
    const store = new MemoryStore()
    const gates = new Gates()
    const o = new Orchestrator({ store })
    const signals: AbortSignal[] = []
    await o.register(agent('watch', (_x, ctx) => (signals.push(ctx.signal), gates.pass(ctx.taskId))))
    const h = o.start(workflow('closing').task('a', { agent: 'watch' }).build())
    await flush()
    const keep = store.close.bind(store)
    store.close = async () => undefined // keep it readable after the orchestrator closes it
    await within(o.close())
    expect(signals[0].aborted).toBe(true)
    const result = await within(h.result)
    expect(result.ok).toBe(false)
    expect(result.error?.code).toBe('RUN_INTERRUPTED')
    expect((await store.getRun(h.id))?.state).toBe('RUNNING')
    expect((await store.getTask(h.id, 'a' as never))?.state).toBe('RUNNING')
    await keep()
  })
})
