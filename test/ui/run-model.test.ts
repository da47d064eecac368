import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isFinal, RunModel, type RunStats } from '../../ui/src/run/model.js'
import type { GraphTask, Run, RunEvent, Task, TaskState } from '../../ui/src/types.js'

// The run page's model keeps its figures event by event; here they are checked against a full
// recomputation over every task (what the page did at each redraw before).

const FINAL = new Set<TaskState>(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'])

/** The figures recomputed from every task and attempt of the model. */
function fullStats(m: RunModel, now: number): Omit<RunStats, 'etaMs'> {
  let done = 0
  let succeeded = 0
  let failed = 0
  let busy = 0
  let attempts = 0
  let retries = 0
  let cost = 0
  let tokens = 0
  const starts: number[] = []
  const ends: number[] = []
  for (const t of m.order) {
    if (FINAL.has(t.state)) done++
    if (t.state === 'SUCCEEDED') succeeded++
    if (t.state === 'FAILED') failed++
    for (const a of t.attempts) {
      attempts++
      if (a.outcome === 'retrying') retries++
      const end = a.end ?? (isFinal(m.run.state) ? a.start : now)
      busy += Math.max(0, end - a.start)
      starts.push(a.start)
      ends.push(end)
    }
    const rec = t.record?.model
    cost += Math.max(rec?.costUsd ?? 0, t.eventCost)
    tokens += Math.max(rec === undefined || rec === null ? 0 : rec.inputTokens + rec.outputTokens, t.eventTokens)
  }
  const s0 = [...starts].sort((a, b) => a - b)
  const e0 = [...ends].sort((a, b) => a - b)
  let running = 0
  let peak = 0
  for (let i = 0, j = 0; i < s0.length; ) {
    if (j < e0.length && (e0[j] as number) <= (s0[i] as number)) {
      running--
      j++
    } else {
      running++
      i++
      peak = Math.max(peak, running)
    }
  }
  const start = m.run.startedAt ?? m.run.createdAt
  const wall = Math.max(1, (m.run.finishedAt ?? now) - start)
  const total = m.order.length
  return {
    total,
    done,
    percent: total === 0 ? 0 : (100 * done) / total,
    succeeded,
    failed,
    successRate: succeeded + failed === 0 ? undefined : succeeded / (succeeded + failed),
    attempts,
    retries,
    wallMs: wall,
    busyMs: busy,
    peak,
    efficiency: peak === 0 ? undefined : busy / (wall * peak),
    costUsd: cost,
    tokens,
  }
}

/** The critical path recomputed with maps over every task. */
function fullCritical(m: RunModel, now: number): Set<string> {
  const best = new Map<string, { len: number; prev: string | undefined }>()
  let end: string | undefined
  let endLen = -1
  for (const t of m.order) {
    const a0 = t.attempts[0]
    const w = a0 === undefined ? 1 : Math.max(1, (t.attempts.at(-1)?.end ?? now) - a0.start)
    let len = 0
    let prev: string | undefined
    for (const d of t.graph?.dependsOn ?? []) {
      const b = best.get(d)
      if (b !== undefined && b.len > len) {
        len = b.len
        prev = d
      }
    }
    best.set(t.id, { len: len + w, prev })
    if (len + w > endLen) {
      endLen = len + w
      end = t.id
    }
  }
  const path = new Set<string>()
  for (let id = end; id !== undefined; id = best.get(id)?.prev) path.add(id)
  return path
}

/** The model's layer counts recomputed from every task. */
function fullLayers(m: RunModel): string {
  const layers = new Map<number, Record<string, number>>()
  for (const t of m.order) {
    const c = layers.get(t.depth) ?? {}
    c[t.state] = (c[t.state] ?? 0) + 1
    layers.set(t.depth, c)
  }
  return JSON.stringify([...layers].map(([d, c]) => [d, Object.entries(c).sort()]))
}

function modelLayers(m: RunModel): string {
  return JSON.stringify(
    [...m.layers].map(([d, c]) => [
      d,
      Object.entries(c)
        .filter(([, n]) => n > 0)
        .sort(),
    ]),
  )
}

function expectSame(m: RunModel, now: number): void {
  const got = m.stats(now)
  const want = fullStats(m, now)
  for (const k of ['total', 'done', 'succeeded', 'failed', 'attempts', 'retries', 'peak', 'tokens'] as const)
    expect(got[k], k).toBe(want[k])
  for (const k of ['percent', 'wallMs', 'busyMs', 'costUsd'] as const) expect(got[k], k).toBeCloseTo(want[k], 6)
  expect(got.successRate).toBe(want.successRate)
  expect([...m.criticalPath(now)]).toEqual([...fullCritical(m, now)])
  expect(modelLayers(m)).toBe(fullLayers(m))
}

const T0 = 1_700_000_000_000
const run = (state: Run['state'] = 'RUNNING'): Run => ({
  id: 'r',
  workflow: 'w',
  state,
  input: null,
  createdAt: T0,
  startedAt: T0,
  finishedAt: null,
  error: null,
  parentRunId: null,
})

/** A random DAG (each task may depend on earlier ones, sometimes on a later or unknown id) and a random run of it. */
const scenario = fc.integer({ min: 1, max: 14 }).chain((n) =>
  fc.record({
    deps: fc.array(fc.array(fc.integer({ min: -1, max: n }), { maxLength: 3 }), { minLength: n, maxLength: n }),
    // Per step: a task, what happens to it, and how much time passes first (0: same time, the ties).
    steps: fc.array(
      fc.record({
        task: fc.integer({ min: 0, max: n - 1 }),
        kind: fc.constantFrom('start', 'start', 'succeed', 'fail', 'retry', 'cancel', 'skip', 'call', 'log'),
        dt: fc.constantFrom(0, 0, 1, 3, 10),
        // How much earlier than the latest its time is: a live stream's times are not in order.
        back: fc.constantFrom(0, 0, 0, 1, 4, 0.5),
        cost: fc.integer({ min: 0, max: 5 }),
      }),
      { maxLength: 60 },
    ),
    records: fc.array(fc.constantFrom<TaskState | null>(null, null, 'SUCCEEDED', 'FAILED', 'RUNNING'), {
      minLength: n,
      maxLength: n,
    }),
    end: fc.constantFrom<'none' | 'succeeded' | 'failed' | 'paused' | 'refetch'>(
      'none',
      'succeeded',
      'failed',
      'paused',
      'refetch',
    ),
  }),
)

const KINDS: Record<string, string> = {
  start: 'task.started',
  succeed: 'task.succeeded',
  fail: 'task.failed',
  retry: 'task.retrying',
  cancel: 'task.cancelled',
  skip: 'task.skipped',
  call: 'model.called',
  log: 'task.log',
}

function record(id: string, state: TaskState, cost: number): Task {
  return {
    taskId: id,
    state,
    attempt: 1,
    agent: 'a',
    model: {
      calls: 1,
      replayed: 0,
      inputTokens: cost,
      outputTokens: 1,
      reasoningTokens: 0,
      cachedInputTokens: 0,
      costUsd: cost / 2,
    },
  } as unknown as Task
}

describe('RunModel: figures kept per event', () => {
  it('match a full recomputation after every event, on random DAGs and event orders', () => {
    fc.assert(
      fc.property(scenario, ({ deps, steps, records, end }) => {
        const graph: GraphTask[] = deps.map(
          (ds, i) =>
            ({
              taskId: `t${i}`,
              agent: 'a',
              dependsOn: [...new Set(ds.map((d) => (d < 0 ? 'nope' : `t${d}`)))].filter((d) => d !== `t${i}`),
            }) as unknown as GraphTask,
        )
        const recs = records.flatMap((s, i) => (s === null ? [] : [record(`t${i}`, s, i)]))
        const m = new RunModel(run(), graph, recs)
        let at = T0
        expectSame(m, at + 1)
        for (const s of steps) {
          at += s.dt
          const e: RunEvent = { type: KINDS[s.kind] as string, runId: 'r', at: at - s.back, taskId: `t${s.task}` }
          if (s.kind === 'call') Object.assign(e, { costUsd: s.cost, usage: { inputTokens: s.cost, outputTokens: 2 } })
          if (s.kind === 'retry' || s.kind === 'fail') e.error = { code: 'X', message: 'boom' }
          m.apply(e)
          expectSame(m, at + 1 + s.dt)
        }
        at += 1
        if (end === 'paused')
          m.apply({
            type: 'run.paused',
            runId: 'r',
            at,
            reason: 'break on error',
            taskId: `t${steps.at(-1)?.task ?? 0}`,
          })
        else if (end === 'refetch') m.setRecords(graph.map((g, i) => record(g.taskId, 'SUCCEEDED', i + 1)))
        else if (end !== 'none') m.apply({ type: `run.${end}`, runId: 'r', at, durationMs: at - T0 })
        expectSame(m, at + 5)
      }),
      { numRuns: 400 },
    )
  })

  it('keep the peak parallelism whatever order the events come in', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ task: fc.integer({ min: 0, max: 5 }), start: fc.boolean(), at: fc.integer({ min: 0, max: 20 }) }),
          {
            maxLength: 40,
          },
        ),
        (steps) => {
          const graph = Array.from(
            { length: 6 },
            (_, i) => ({ taskId: `t${i}`, agent: 'a', dependsOn: [] }) as unknown as GraphTask,
          )
          const m = new RunModel(run(), graph, [])
          for (const s of steps) {
            m.apply({
              type: s.start ? 'task.started' : 'task.succeeded',
              runId: 'r',
              at: T0 + s.at,
              taskId: `t${s.task}`,
            })
            expectSame(m, T0 + 100)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('is the same built in slices as at once', async () => {
    const graph = Array.from(
      { length: 11 },
      (_, i) =>
        ({
          taskId: `t${i}`,
          agent: 'a',
          dependsOn: i === 0 ? [] : [`t${Math.floor(i / 2)}`, `t${(i * 7) % 11}`],
        }) as unknown as GraphTask,
    )
    const recs = [record('t1', 'SUCCEEDED', 2), record('t4', 'FAILED', 1), record('t9', 'RUNNING', 3)]
    let pauses = 0
    const sliced = await RunModel.build(run(), graph, recs, () => Promise.resolve(void pauses++), 3)
    const whole = new RunModel(run(), graph, recs)
    expect(pauses).toBeGreaterThan(2)
    expect(sliced.order.map((t) => [t.id, t.index, t.depth, t.state])).toEqual(
      whole.order.map((t) => [t.id, t.index, t.depth, t.state]),
    )
    expect(sliced.stats(T0 + 9)).toEqual(whole.stats(T0 + 9))
    expect(modelLayers(sliced)).toBe(modelLayers(whole))
    expect([...sliced.criticalPath(T0 + 9)]).toEqual([...whole.criticalPath(T0 + 9)])
    expectSame(sliced, T0 + 9)
  })

  it("keeps a big live run's critical path for a second, and recomputes it at once when the run ended", () => {
    const n = 3000
    const graph = Array.from(
      { length: n },
      (_, i) => ({ taskId: `t${i}`, agent: 'a', dependsOn: i === 0 ? [] : [`t${i - 1}`] }) as unknown as GraphTask,
    )
    const m = new RunModel(run(), graph, [])
    m.apply({ type: 'task.started', runId: 'r', at: T0, taskId: 't0' })
    const first = m.criticalPath(T0 + 10)
    m.apply({ type: 'task.succeeded', runId: 'r', at: T0 + 5, taskId: 't0' })
    expect(m.criticalPath(T0 + 20)).toBe(first)
    m.apply({ type: 'run.succeeded', runId: 'r', at: T0 + 6, durationMs: 6 })
    expect([...m.criticalPath(T0 + 30)]).toEqual([...fullCritical(m, T0 + 30)])
  })
})
