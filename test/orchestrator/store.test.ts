import { describe, expect, it } from 'vitest'
import { FakeClock } from '../../src/core/fake-clock.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { TaskRecord } from '../../src/store/records.js'
import { ref, workflow } from '../../src/workflows/builder.js'
import { agent, FlakyStore, flush, Gates, within } from './helpers.js'

const WALL0 = Date.UTC(2026, 0, 1)

describe('write-ahead', () => {
  it('stores RUNNING with the current attempt before the handler runs', async () => {
    const clock = new FakeClock(1000)
    const o = new Orchestrator({ clock, random: () => 0.5 })
    const seen: { attempt: number; stored: TaskRecord | undefined }[] = []
    await o.register(
      agent('peek', async (_x, ctx) => {
        const stored = (await o.getTasks(ctx.runId)).find((t) => t.taskId === ctx.taskId)
        seen.push({ attempt: ctx.attempt, stored })
        if (ctx.attempt < 2) throw new Error('once more')
        return 'ok'
      }),
    )
    const h = o.start(
      workflow('wa')
        .task('t', { agent: 'peek', retry: { maxAttempts: 2, initialDelayMs: 10 } })
        .build(),
    )
    await clock.advance(100)
    await within(h.result)
    expect(seen.map((s) => s.attempt)).toEqual([1, 2])
    for (const s of seen) {
      // Attempt 1 starts at 1000 ms; attempt 2 after a 0.5 × 10 = 5 ms backoff.
      expect(s.stored).toMatchObject({
        state: 'RUNNING',
        attempt: s.attempt,
        agent: 'peek@1.0.0',
        startedAt: WALL0 + 1000 + (s.attempt === 1 ? 0 : 5),
      })
    }
  })

  it('has the run and all its tasks stored before the first handler runs', async () => {
    const o = new Orchestrator()
    let snapshot: { state?: string; tasks: string[] } | undefined
    await o.register(
      agent('first', async (_x, ctx) => {
        const run = await o.getRun(ctx.runId)
        snapshot = { state: run.state, tasks: (await o.getTasks(ctx.runId)).map((t) => `${t.taskId}:${t.state}`) }
      }),
    )
    await o.register(agent('other', () => 1))
    await o.run(
      workflow('created')
        .task('a', { agent: 'first' })
        .task('b', { agent: 'other', dependsOn: ['a'] })
        .build(),
    )
    expect(snapshot).toEqual({ state: 'RUNNING', tasks: ['a:RUNNING', 'b:PENDING'] })
  })

  it('has the upstream output stored when a dependent runs', async () => {
    const o = new Orchestrator()
    let upstream: TaskRecord | undefined
    await o.register(agent('produce', () => ({ files: ['x.ts'] })))
    await o.register(
      agent('consume', async (x, ctx) => {
        upstream = (await o.getTasks(ctx.runId)).find((t) => t.taskId === 'a')
        return x
      }),
    )
    const result = await o.run(
      workflow('wa2')
        .task('a', { agent: 'produce' })
        .task('b', { agent: 'consume', input: ref('a', 'files') })
        .build(),
    )
    expect(result.output('b')).toEqual(['x.ts'])
    expect(upstream).toMatchObject({ state: 'SUCCEEDED', output: { files: ['x.ts'] }, attempt: 1 })
  })

  it('keeps the stored run in step with the result', async () => {
    const o = new Orchestrator()
    await o.register(agent('ok', (x) => x))
    const result = await o.run(workflow('sync').task('a', { agent: 'ok', input: 1 }).build(), undefined, {
      runId: 'run_custom_id_1',
    })
    expect(result.runId).toBe('run_custom_id_1')
    const run = await o.getRun('run_custom_id_1')
    expect(run).toMatchObject({ id: 'run_custom_id_1', state: 'SUCCEEDED', error: undefined })
    expect(await o.listRuns({ state: 'SUCCEEDED' })).toEqual([run])
    await expect(o.getRun('run_missing')).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' })
  })

  it('refuses a run id that is already stored, without touching the stored run', async () => {
    const o = new Orchestrator()
    await o.register(agent('ok', (x) => x))
    await o.run(workflow('once').task('a', { agent: 'ok', input: 1 }).build(), undefined, { runId: 'run_dup_1' })
    const again = await within(
      o.run(workflow('twice').task('a', { agent: 'ok', input: 2 }).build(), undefined, { runId: 'run_dup_1' }),
    )
    expect(again.state).toBe('FAILED')
    expect(again.error?.code).toBe('STORE_CONFLICT')
    expect(await o.getRun('run_dup_1')).toMatchObject({ workflow: 'once', state: 'SUCCEEDED' })
    expect((await o.getTasks('run_dup_1'))[0].output).toBe(1)
  })

  it('refuses to reuse the id of a live run, leaving that run controllable', async () => {
    const o = new Orchestrator()
    const gates = new Gates()
    const logs: string[] = []
    await o.register(
      agent('g', async (_x, ctx) => {
        await gates.pass(ctx.taskId)
        ctx.log.info(`after ${ctx.taskId}`)
      }),
    )
    const first = o.start(
      workflow('live')
        .task('a', { agent: 'g' })
        .task('b', { agent: 'g', dependsOn: ['a'] })
        .build(),
      undefined,
      { runId: 'run_live_1', onEvent: (e) => e.type === 'task.log' && logs.push(e.message) },
    )
    await flush()
    let second: Promise<unknown> | undefined
    try {
      second = o.run(workflow('intruder').task('x', { agent: 'g' }).build(), undefined, { runId: 'run_live_1' })
      await within(second)
    } catch {
      // refusing at once is fine too
    }
    await flush()
    expect(gates.open).toEqual(['a'])
    // The first run is still reachable by id, and still reports its events.
    await o.pause('run_live_1')
    gates.release('a')
    await flush()
    expect(gates.open).toEqual([])
    await o.resume('run_live_1')
    await flush()
    gates.release('b')
    const result = await within(first.result)
    expect(result.ok).toBe(true)
    expect(logs).toEqual(['after a', 'after b'])
    expect(await o.getRun('run_live_1')).toMatchObject({ workflow: 'live', state: 'SUCCEEDED' })
  })
})

describe('a failing store', () => {
  it('fails the run with STORE_UNAVAILABLE when the first write is refused, without running anything', async () => {
    const store = new FlakyStore(0)
    const o = new Orchestrator({ store })
    let calls = 0
    await o.register(agent('ok', () => ++calls))
    const result = await within(o.run(workflow('s0').task('a', { agent: 'ok' }).build()), 2000, 'the run result')
    expect(result.state).toBe('FAILED')
    expect(result.error?.code).toBe('STORE_UNAVAILABLE')
    expect(result.error?.message).toContain('The disk is gone')
    expect(calls).toBe(0)
  })

  it('fails the run with STORE_UNAVAILABLE when a later write is refused, and the result does not hang', async () => {
    for (const okBatches of [1, 2, 3, 4]) {
      const store = new FlakyStore(okBatches)
      const o = new Orchestrator({ store })
      await o.register(agent('ok', async (x) => x))
      const wf = workflow(`s${okBatches}`)
        .task('a', { agent: 'ok', input: 1 })
        .task('b', { agent: 'ok', input: ref('a') })
        .task('c', { agent: 'ok', input: ref('b') })
        .build()
      const result = await within(o.run(wf), 2000, `the run result (okBatches ${okBatches})`)
      expect(result.state, `okBatches ${okBatches}`).toBe('FAILED')
      expect(result.error?.code).toBe('STORE_UNAVAILABLE')
      expect(store.failures).toBeGreaterThan(0)
    }
  })

  it('aborts the handlers still running when the store fails', async () => {
    const store = new FlakyStore(2)
    const o = new Orchestrator({ store })
    const gates = new Gates()
    const signals = new Map<string, AbortSignal>()
    await o.register(agent('g', (_x, ctx) => (signals.set(ctx.taskId, ctx.signal), gates.pass(ctx.taskId))))
    const h = o.start(workflow('s-abort').task('a', { agent: 'g' }).task('b', { agent: 'g' }).build())
    await flush()
    expect(gates.open.sort()).toEqual(['a', 'b'])
    gates.release('a')
    const result = await within(h.result)
    expect(result.error?.code).toBe('STORE_UNAVAILABLE')
    expect(signals.get('b')!.aborted).toBe(true)
  })

  it('keeps other runs going when only one run is affected', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    await o.register(agent('ok', async (x) => x))
    const results = await Promise.all(
      [1, 2, 3].map((n) => o.run(workflow(`par${n}`).task('a', { agent: 'ok', input: n }).build())),
    )
    expect(results.map((r) => r.output('a'))).toEqual([1, 2, 3])
  })
})

describe('stores with an asynchronous commit only', () => {
  it('runs a diamond through the promise path of the write-ahead log, one commit in flight at a time', async () => {
    const inner = new MemoryStore()
    let inFlight = 0
    let maxInFlight = 0
    let commits = 0
    const store = {
      kind: 'async-memory',
      durable: false,
      commit: async (batch: Parameters<MemoryStore['commit']>[0]) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise((r) => setTimeout(r, 1))
        commits++
        inFlight--
        return inner.commit(batch)
      },
      getRun: inner.getRun.bind(inner),
      listRuns: inner.listRuns.bind(inner),
      getTasks: inner.getTasks.bind(inner),
      getTask: inner.getTask.bind(inner),
      pruneRuns: inner.pruneRuns.bind(inner),
      listEvents: inner.listEvents.bind(inner),
      tailEvents: inner.tailEvents.bind(inner),
      saveAgent: inner.saveAgent.bind(inner),
      getAgent: inner.getAgent.bind(inner),
      listAgents: inner.listAgents.bind(inner),
      listAgentTransitions: inner.listAgentTransitions.bind(inner),
      pruneAgents: inner.pruneAgents.bind(inner),
      close: inner.close.bind(inner),
    }
    const o = new Orchestrator({ store })
    await o.register(agent('inc', async (x) => (x as number) + 1))
    const wf = workflow('diamond')
      .task('a', { agent: 'inc', input: 1 })
      .task('b', { agent: 'inc', input: ref('a') })
      .task('c', { agent: 'inc', input: ref('a') })
      .task('d', { agent: 'inc', input: ref('b') })
      .build()
    const result = await o.run(wf)
    expect(result.state).toBe('SUCCEEDED')
    expect(result.output('d')).toBe(4)
    expect(maxInFlight).toBe(1)
    expect(commits).toBeGreaterThan(1)
    const stored = await o.getTasks(result.runId)
    expect(stored.map((t) => [t.taskId, t.state, t.output])).toEqual([
      ['a', 'SUCCEEDED', 2],
      ['b', 'SUCCEEDED', 3],
      ['c', 'SUCCEEDED', 3],
      ['d', 'SUCCEEDED', 4],
    ])
  })
})
