import { describe, expect, it, vi } from 'vitest'
import { isRunEvent, type RunEvent, type RunProgress } from '../../src/core/events.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { ref, workflow } from '../../src/workflows/builder.js'
import { agent, flush, payloads, sleep, types, within } from './helpers.js'

/** An orchestrator on a fake clock with `sleeper` (sleeps `input.ms`, returns `input.value`). */
async function timed(progressIntervalMs = 0, start = 1000): Promise<{ clock: FakeClock; o: Orchestrator }> {
  const clock = new FakeClock(start)
  const o = new Orchestrator({ clock, progressIntervalMs, random: () => 0.5 })
  const run = async (x: unknown): Promise<unknown> => {
    const { ms, value } = x as { ms: number; value?: unknown }
    await sleep(clock, ms)
    return value ?? ms
  }
  await o.register(agent('sleeper', (x) => run(x)))
  await o.register(agent('slowpoke', (x) => run(x)))
  return { clock, o }
}

/** Advances the fake clock in steps until `p` settles. */
async function runClock<T>(clock: FakeClock, p: Promise<T>, stepMs = 10, maxMs = 100_000): Promise<T> {
  let done = false
  void p.then(
    () => (done = true),
    () => (done = true),
  )
  for (let t = 0; !done && t <= maxMs; t += stepMs) await clock.advance(stepMs)
  return within(p)
}

describe('progress', () => {
  it('reports increasing done counts with an ETA from observed durations, ending at 100 % with etaMs 0', async () => {
    const { clock, o } = await timed()
    const reports: RunProgress[] = []
    const wf = workflow('chain')
      .task('a', { agent: 'sleeper', input: { ms: 100 } })
      .task('b', { agent: 'sleeper', input: { ms: 100 }, dependsOn: ['a'] })
      .task('c', { agent: 'sleeper', input: { ms: 100 }, dependsOn: ['b'] })
      .task('d', { agent: 'sleeper', input: { ms: 100 }, dependsOn: ['c'] })
      .build()
    const h = o.start(wf, undefined, { onProgress: (p) => reports.push(p) })
    await runClock(clock, h.result)
    expect(reports.map((p) => p.done)).toEqual([1, 2, 3, 4])
    expect(reports.map((p) => p.percent)).toEqual([25, 50, 75, 100])
    expect(reports.map((p) => p.elapsedMs)).toEqual([100, 200, 300, 400])
    expect(reports.map((p) => p.etaMs)).toEqual([300, 200, 100, 0])
    const last = reports[reports.length - 1]
    expect(last).toMatchObject({ total: 4, done: 4, percent: 100, etaMs: 0 })
    expect(last.counts).toMatchObject({ SUCCEEDED: 4, PENDING: 0, RUNNING: 0, READY: 0 })
    expect(h.progress()).toEqual(last)
  })

  it('measures elapsed time and ETA on a clock that starts at 0 (the FakeClock default)', async () => {
    const { clock, o } = await timed(0, 0)
    const reports: RunProgress[] = []
    const wf = workflow('zero')
      .task('a', { agent: 'sleeper', input: { ms: 100 } })
      .task('b', { agent: 'sleeper', input: { ms: 100 }, dependsOn: ['a'] })
      .build()
    const h = o.start(wf, undefined, { onProgress: (p) => reports.push(p) })
    await runClock(clock, h.result)
    expect(reports.map((p) => [p.done, p.elapsedMs, p.etaMs])).toEqual([
      [1, 100, 100],
      [2, 200, 0],
    ])
    expect((await h.result).summary.durationMs).toBe(200)
  })

  it('has no ETA before a task finished, and counts tasks by state while running', async () => {
    const { clock, o } = await timed()
    const h = o.start(
      workflow('early')
        .task('a', { agent: 'sleeper', input: { ms: 100 } })
        .task('b', { agent: 'sleeper', input: { ms: 300 } })
        .task('c', { agent: 'sleeper', input: { ms: 50 }, dependsOn: ['a'] })
        .build(),
    )
    await flush()
    expect(h.progress()).toMatchObject({
      total: 3,
      done: 0,
      percent: 0,
      etaMs: undefined,
      counts: { RUNNING: 2, PENDING: 1 },
    })
    await clock.advance(100)
    expect(h.progress()).toMatchObject({ done: 1, percent: 33.3, counts: { RUNNING: 2, SUCCEEDED: 1 } })
    expect(h.progress().etaMs).toBeGreaterThan(0)
    await runClock(clock, h.result)
  })

  it('throttles progress reports to progressIntervalMs, but always reports the end', async () => {
    const { clock, o } = await timed(100)
    const reports: RunProgress[] = []
    const b = workflow('many')
    for (let i = 0; i < 10; i++) b.task(`t${i}`, { agent: 'sleeper', input: { ms: 10 } })
    const h = o.start(b.build(), undefined, { onProgress: (p) => reports.push(p) })
    await runClock(clock, h.result)
    // All ten finish at the same instant: one report at the first completion, one at the end.
    expect(reports.map((p) => p.done)).toEqual([1, 10])
    expect(reports[1]).toMatchObject({ percent: 100, etaMs: 0 })
  })

  it('ends the progress of a failed run with every task counted as done', async () => {
    const o = new Orchestrator({ progressIntervalMs: 0 })
    await o.register(
      agent('bad', () => {
        throw new Error('no')
      }),
    )
    await o.register(agent('ok', () => 1))
    const reports: RunProgress[] = []
    const result = await o.run(
      workflow('failing')
        .task('a', { agent: 'bad' })
        .task('b', { agent: 'ok', dependsOn: ['a'] })
        .build(),
      undefined,
      { onProgress: (p) => reports.push(p) },
    )
    expect(result.state).toBe('FAILED')
    const last = reports[reports.length - 1]
    expect(last.counts).toMatchObject({ FAILED: 1, CANCELLED: 1 })
    // Every task is in a final state: done is the total, as RunProgress.done documents.
    expect(last).toMatchObject({ total: 2, done: 2, percent: 100, etaMs: 0 })
  })

  it('sends run.progress events to orchestrator.on and to the run onEvent', async () => {
    const o = new Orchestrator({ progressIntervalMs: 0 })
    await o.register(agent('ok', (x) => x))
    const viaOn: RunEvent[] = []
    const viaRun: RunEvent[] = []
    o.on('run.progress', (e) => viaOn.push(e))
    const result = await o.run(
      workflow('ev')
        .task('a', { agent: 'ok' })
        .task('b', { agent: 'ok', dependsOn: ['a'] })
        .build(),
      undefined,
      { onEvent: (e) => viaRun.push(e) },
    )
    expect(viaOn.map((e) => e.type === 'run.progress' && e.progress.done)).toEqual([1, 2])
    expect(viaRun.filter((e) => e.type === 'run.progress')).toEqual(viaOn)
    const stored = payloads(await o.listEvents(result.runId)).filter((e) => e.type === 'run.progress')
    expect(stored).toEqual(viaOn)
  })
})

describe('events', () => {
  it('delivers the events that were stored, in order, and only after storing them', async () => {
    const o = new Orchestrator()
    await o.register(agent('ok', (x) => x))
    const seen: RunEvent[] = []
    let storedWhenDelivered = true
    o.on('*', (e) => {
      if (!isRunEvent(e)) return
      seen.push(e)
      void o.listEvents(e.runId).then((stored) => {
        if (!stored.some((s) => JSON.stringify(s.event) === JSON.stringify(e))) storedWhenDelivered = false
      })
    })
    const result = await o.run(
      workflow('order')
        .task('a', { agent: 'ok', input: 1 })
        .task('b', { agent: 'ok', input: ref('a') })
        .build(),
    )
    await flush()
    const stored = payloads(await o.listEvents(result.runId))
    expect(seen).toEqual(stored)
    expect(storedWhenDelivered).toBe(true)
    expect(types(stored)[0]).toBe('run.started')
    expect(stored[0]).toMatchObject({ type: 'run.started', runId: result.runId, workflow: 'order', tasks: 2 })
    expect(types(stored).at(-1)).toBe('run.succeeded')
    expect(types(stored).filter((t) => t.startsWith('task.'))).toEqual([
      'task.started',
      'task.succeeded',
      'task.started',
      'task.succeeded',
    ])
    expect((await o.listEvents(result.runId)).map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1))
  })

  it('filters listeners by type, unsubscribes, and keeps onEvent to its own run', async () => {
    const o = new Orchestrator()
    await o.register(agent('ok', (x) => x))
    const succeeded: string[] = []
    const off = o.on('task.succeeded', (e) => succeeded.push(e.taskId))
    const mine: RunEvent[] = []
    const wf = workflow('filter').task('a', { agent: 'ok' }).build()
    const [r1] = await Promise.all([o.run(wf, undefined, { onEvent: (e) => mine.push(e) }), o.run(wf)])
    expect(succeeded).toEqual(['a', 'a'])
    expect(mine.length).toBeGreaterThan(0)
    expect(mine.every((e) => e.runId === r1.runId)).toBe(true)
    off()
    await o.run(wf)
    expect(succeeded).toHaveLength(2)
  })

  it('keeps delivering to other listeners when one throws', async () => {
    const o = new Orchestrator()
    await o.register(agent('ok', (x) => x))
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      const got: string[] = []
      o.on('run.started', () => {
        throw new Error('listener bug')
      })
      o.on('run.started', (e) => got.push(e.type))
      const result = await o.run(workflow('throwing').task('a', { agent: 'ok' }).build())
      expect(result.ok).toBe(true)
      expect(got).toEqual(['run.started'])
      // Library code never writes to stderr: the error goes to the telemetry logger (test/telemetry).
      expect(stderr).not.toHaveBeenCalledWith(expect.stringContaining('listener bug'))
    } finally {
      stderr.mockRestore()
    }
  })

  it('turns ctx.progress into task.progress and ctx.log into task.log events, and refuses a fraction outside [0, 1]', async () => {
    const o = new Orchestrator()
    const refused: unknown[] = []
    await o.register(
      agent('chatty', (_x, ctx) => {
        ctx.progress(0.5, 'half')
        ctx.progress(1)
        for (const bad of [2, -0.1, Number.NaN]) {
          try {
            ctx.progress(bad)
          } catch (e) {
            refused.push((e as { code?: string }).code)
          }
        }
        ctx.log.info('hello', { files: 3 })
        ctx.log.warn('careful')
        return 'ok'
      }),
    )
    const events: RunEvent[] = []
    const result = await o.run(workflow('chat').task('t', { agent: 'chatty' }).build(), undefined, {
      onEvent: (e) => events.push(e),
    })
    expect(result.ok).toBe(true)
    expect(refused).toEqual(['VALIDATION_FAILED', 'VALIDATION_FAILED', 'VALIDATION_FAILED'])
    const progress = events.filter((e) => e.type === 'task.progress')
    expect(progress).toEqual([
      expect.objectContaining({ taskId: 't', attempt: 1, fraction: 0.5, note: 'half' }),
      expect.objectContaining({ taskId: 't', attempt: 1, fraction: 1, note: undefined }),
    ])
    const logs = events.filter((e) => e.type === 'task.log')
    expect(logs).toEqual([
      expect.objectContaining({ taskId: 't', level: 'info', message: 'hello', data: { files: 3 } }),
      expect.objectContaining({ taskId: 't', level: 'warn', message: 'careful' }),
    ])
    expect('data' in logs[1]).toBe(false)
    const stored = payloads(await o.listEvents(result.runId))
    expect(stored.filter((e) => e.type === 'task.log' || e.type === 'task.progress')).toEqual(
      [...progress, ...logs].sort((x, y) => events.indexOf(x) - events.indexOf(y)),
    )
  })
})

describe('results', () => {
  async function diamond(): Promise<{ o: Orchestrator; result: Awaited<ReturnType<Orchestrator['run']>> }> {
    const { clock, o } = await timed()
    // a(100) → b(300) → d(50); a → c(100) → d. Critical path a, b, d = 450 ms.
    const wf = workflow('timed-diamond')
      .task('a', { agent: 'sleeper', input: { ms: 100, value: 'A' } })
      .task('b', { agent: 'slowpoke', input: { ms: 300, value: 'B' }, dependsOn: ['a'] })
      .task('c', { agent: 'sleeper', input: { ms: 100, value: 'C' }, dependsOn: ['a'] })
      .task('d', { agent: 'sleeper', input: { ms: 50, value: 'D' }, dependsOn: ['b', 'c'] })
      .build()
    const result = await runClock(clock, o.run(wf))
    return { o, result }
  }

  it('aggregates durations, critical path, per-agent shares and efficiency', async () => {
    const { result } = await diamond()
    expect(result.ok).toBe(true)
    const s = result.summary
    expect(s.successRate).toBe(1)
    expect(s.counts).toEqual({ succeeded: 4, failed: 0, skipped: 0, cancelled: 0 })
    expect(s.durationMs).toBe(450)
    expect(s.criticalPath).toEqual({ tasks: ['a', 'b', 'd'], durationMs: 450 })
    expect(s.peakConcurrency).toBe(2)
    expect(s.speedup).toBeCloseTo(550 / 450)
    expect(s.parallelEfficiency).toBeCloseTo(550 / (450 * 2))
    expect(s.parallelEfficiency).toBeGreaterThan(0)
    expect(s.parallelEfficiency).toBeLessThanOrEqual(1)
    expect(Object.keys(s.perAgent).sort()).toEqual(['sleeper@1.0.0', 'slowpoke@1.0.0'])
    expect(s.perAgent['sleeper@1.0.0']).toMatchObject({ tasks: 3, succeeded: 3, failed: 0, busyMs: 250 })
    expect(s.perAgent['slowpoke@1.0.0']).toMatchObject({ tasks: 1, succeeded: 1, busyMs: 300 })
    const shares = Object.values(s.perAgent).map((a) => a.share)
    expect(shares.reduce((x, y) => x + y, 0)).toBeCloseTo(1)
    expect(s.perAgent['slowpoke@1.0.0'].share).toBeCloseTo(300 / 550)
    expect(result.tasks.b).toEqual({
      id: 'b',
      state: 'SUCCEEDED',
      attempts: 1,
      agent: 'slowpoke@1.0.0',
      durationMs: 300,
      output: 'B',
      error: undefined,
    })
    expect(result.outputs).toEqual({ a: 'A', b: 'B', c: 'C', d: 'D' })
  })

  it('is JSON-serialisable through toJSON', async () => {
    const { result } = await diamond()
    const json = JSON.parse(JSON.stringify(result)) as ReturnType<typeof result.toJSON>
    expect(json).toMatchObject({ runId: result.runId, workflow: 'timed-diamond', state: 'SUCCEEDED' })
    expect(json.summary).toEqual(JSON.parse(JSON.stringify(result.summary)))
    expect(json.tasks.d).toMatchObject({ id: 'd', state: 'SUCCEEDED', output: 'D', durationMs: 50 })
    expect(json.error).toBeUndefined()
  })

  it('reports the success rate over tasks that ran, and the error of a failed run in JSON', async () => {
    const o = new Orchestrator()
    await o.register(agent('ok', () => 1))
    await o.register(
      agent('bad', () => {
        throw new Error('nope')
      }),
    )
    const wf = workflow('mixed')
      .task('a', { agent: 'ok' })
      .task('b', { agent: 'bad', continueOnFailure: true })
      .task('c', { agent: 'ok', when: 'input.never' })
      .task('d', { agent: 'ok', dependsOn: ['a'] })
      .build()
    const result = await o.run(wf)
    expect(result.summary.successRate).toBeCloseTo(2 / 3)
    expect(result.summary.counts).toEqual({ succeeded: 2, failed: 1, skipped: 1, cancelled: 0 })
    expect(result.summary.perAgent['bad@1.0.0']).toMatchObject({ tasks: 1, failed: 1, succeeded: 0 })
    const failed = await o.run(workflow('f').task('x', { agent: 'bad' }).build())
    expect(JSON.parse(JSON.stringify(failed)).error).toMatchObject({ code: 'TASK_FAILED', retryable: true })
  })
})
