import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { AgentContext } from '../../src/agents/context.js'
import type { RunId, TaskId } from '../../src/core/ids.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { ref, workflow } from '../../src/workflows/builder.js'
import { compileWorkflow } from '../../src/workflows/compile.js'
import type { TaskSpec } from '../../src/workflows/spec.js'
import { deferred, flush } from '../orchestrator/helpers.js'

const dirs: string[] = []
/** Planned failures must reach the handler: a circuit opened by earlier failures would refuse the call instead. */
const NO_BREAKER = { failureThreshold: 1_000_000 }
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('dependencies: any — compiling', () => {
  it('refuses "any" on a task with no upstream task, naming what to do', () => {
    const spec = { name: 'w', tasks: [{ id: 'a', agent: 'x', dependencies: 'any' as const }] }
    expect(() => compileWorkflow(spec)).toThrow(/dependencies "any" needs upstream tasks; name them in dependsOn/)
    try {
      compileWorkflow(spec)
    } catch (e) {
      expect((e as { code: string }).code).toBe('WORKFLOW_INVALID')
    }
  })

  it('refuses a list under dependencies and points to dependsOn', () => {
    const spec = {
      name: 'w',
      tasks: [
        { id: 'a', agent: 'x' },
        { id: 'b', agent: 'x', dependencies: ['a'] },
      ],
    }
    expect(() => compileWorkflow(spec as never)).toThrow(/list the upstream tasks under "dependsOn"/)
  })

  it('counts referenced tasks as upstream tasks', () => {
    const wf = workflow('w')
      .task('a', { agent: 'x' })
      .task('b', { agent: 'x' })
      .task('c', { agent: 'x', dependencies: 'any', input: { a: ref('a'), b: ref('b') } })
      .build()
    expect(wf.tasks[2].anyOf).toBe(true)
    expect([...wf.tasks[2].deps].sort()).toEqual([0, 1])
    expect(wf.tasks[0].anyOf).toBe(false)
  })
})

describe('dependencies: any — running', () => {
  it('starts on the first upstream success, ignores the others (they run on) and sees undefined for them', async () => {
    const slow = deferred<unknown>()
    const seen: unknown[] = []
    const orch = new Orchestrator({ store: new MemoryStore() })
    await orch.register(
      defineAgent({
        name: 'step',
        handler: async (input: { name: string; a?: unknown; b?: unknown }) => {
          if (input.name === 'b') await slow.promise
          if (input.name === 'c') seen.push({ a: input.a, b: input.b })
          return { by: input.name }
        },
      }),
    )
    const wf = workflow('race')
      .task('a', { agent: 'step', input: { name: 'a' } })
      .task('b', { agent: 'step', input: { name: 'b' } })
      .task('c', { agent: 'step', dependencies: 'any', input: { name: 'c', a: ref('a'), b: ref('b') } })
      .build()
    const h = orch.start(wf)
    for (let i = 0; i < 100 && seen.length === 0; i++) await flush(1)
    expect(seen).toEqual([{ a: { by: 'a' }, b: undefined }])
    slow.resolve(undefined)
    const result = await h.result
    expect(result.state).toBe('SUCCEEDED')
    const tasks = await orch.store.getTasks(h.id as RunId)
    expect(tasks.map((t) => [t.taskId, t.state])).toEqual([
      ['a', 'SUCCEEDED'],
      ['b', 'SUCCEEDED'],
      ['c', 'SUCCEEDED'],
    ])
    await orch.close()
  })

  it('skips the task when every upstream task finished without succeeding', async () => {
    const orch = new Orchestrator({ store: new MemoryStore() })
    await orch.register(
      defineAgent({
        name: 'boom',
        handler: async () => {
          throw new Error('no luck')
        },
      }),
    )
    await orch.register(defineAgent({ name: 'ok', handler: async () => 'ran' }))
    const wf = workflow('none')
      .task('a', { agent: 'boom', continueOnFailure: true })
      .task('b', { agent: 'ok', when: 'input.never == true' })
      .task('c', { agent: 'ok', dependsOn: ['a', 'b'], dependencies: 'any' })
      .build()
    const h = orch.start(wf, { never: false })
    const result = await h.result
    expect(result.state).toBe('SUCCEEDED')
    const events = await orch.store.listEvents(h.id as RunId)
    const skipped = events.map((e) => e.event).find((e) => e.type === 'task.skipped' && e.taskId === 'c')
    expect(skipped).toMatchObject({ reason: 'no upstream task succeeded (dependencies: any)' })
    await orch.close()
  })
})

/** A random graph: each task's upstream tasks (earlier ones), its mode, its planned outcome and its delay. */
interface Plan {
  deps: number[][]
  any: boolean[]
  ok: boolean[]
  ticks: number[]
}

const planArb: fc.Arbitrary<Plan> = fc.integer({ min: 2, max: 8 }).chain((n) =>
  fc.record({
    deps: fc.tuple(
      ...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, k) => k))),
    ) as fc.Arbitrary<number[][]>,
    any: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    ok: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    ticks: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }),
  }),
)

/** The reference model: each task's final state, in index (topological) order. */
function model(plan: Plan): string[] {
  const states: string[] = []
  plan.deps.forEach((deps, i) => {
    const anyMode = plan.any[i] && deps.length > 0
    const runs = !anyMode || deps.some((d) => states[d] === 'SUCCEEDED')
    states.push(runs ? (plan.ok[i] ? 'SUCCEEDED' : 'FAILED') : 'SKIPPED')
  })
  return states
}

function specOf(plan: Plan): TaskSpec[] {
  return plan.deps.map((deps, i) => {
    const input: Record<string, unknown> = { i }
    for (const d of deps) input[`t${d}`] = ref(`t${d}`)
    const t: TaskSpec = { id: `t${i}`, agent: 'p', input, continueOnFailure: true }
    if (plan.any[i] && deps.length > 0) t.dependencies = 'any'
    return t
  })
}

/** Tracks what the agent saw; after `crash` is set, every handler hangs (a frozen process). */
class Probe {
  calls: number[] = []
  finished = new Set<number>()
  violations: string[] = []
  crash = false
  crashAt: number | undefined

  constructor(private readonly plan: Plan) {}

  agent(frozen: boolean) {
    return defineAgent({
      name: 'p',
      handler: async (input: Record<string, unknown>, _ctx: AgentContext) => {
        const i = input.i as number
        if (frozen && this.crash) await new Promise(() => undefined)
        this.calls.push(i)
        const deps = this.plan.deps[i]
        const seen = deps.filter((d) => input[`t${d}`] !== undefined)
        for (const d of seen) if (!this.finished.has(d)) this.violations.push(`t${i} saw t${d} before it finished`)
        if (this.plan.any[i] && deps.length > 0 && seen.length === 0)
          this.violations.push(`t${i} (any) started with no upstream output`)
        if (frozen && this.crashAt === i) this.crash = true
        for (let k = 0; k < this.plan.ticks[i]; k++) await new Promise<void>((r) => setImmediate(r))
        if (frozen && this.crash) await new Promise(() => undefined)
        if (!this.plan.ok[i]) throw new Error(`t${i} fails as planned`)
        this.finished.add(i)
        return { from: i }
      },
    })
  }
}

async function statesOf(store: Store, runId: RunId, n: number): Promise<string[]> {
  const tasks = await store.getTasks(runId)
  const byId = new Map(tasks.map((t) => [t.taskId, t.state]))
  return Array.from({ length: n }, (_, i) => byId.get(`t${i}` as TaskId) ?? 'PENDING')
}

/**
 * Store setups. `second` opens the store a recovering process sees; `stop` ends the frozen first
 * orchestrator so its lease (SQLite) lets go — it writes nothing more, as after a crash.
 */
function stores(): {
  name: string
  open: () => { first: Store; second: () => Store; stop: (o: Orchestrator) => Promise<void> }
}[] {
  return [
    {
      name: 'memory',
      open: () => {
        const store = new MemoryStore()
        return { first: store, second: () => store, stop: async () => undefined }
      },
    },
    {
      name: 'sqlite',
      open: () => {
        const dir = mkdtempSync(join(tmpdir(), 'flotilla-any-'))
        dirs.push(dir)
        const path = join(dir, 'runs.db')
        return {
          first: SqliteStore.open({ path }),
          second: () => SqliteStore.open({ path }),
          stop: (o: Orchestrator) => o.close(),
        }
      },
    },
  ]
}

describe.each(stores())('dependencies: any — property against a reference model ($name)', ({ open }) => {
  it('ends every task as the model says, an any-task starting only after an upstream success', async () => {
    await fc.assert(
      fc.asyncProperty(planArb, async (plan) => {
        const { first } = open()
        const probe = new Probe(plan)
        const orch = new Orchestrator({ store: first, circuitBreaker: NO_BREAKER })
        await orch.register(probe.agent(false))
        const h = orch.start(compileWorkflow({ name: 'prop', tasks: specOf(plan) }))
        const result = await h.result
        expect(result.state).toBe('SUCCEEDED')
        const expected = model(plan)
        expect(await statesOf(first, h.id as RunId, plan.deps.length)).toEqual(expected)
        expect(probe.violations).toEqual([])
        expect([...probe.calls].sort((a, b) => a - b)).toEqual(expected.flatMap((s, i) => (s === 'SKIPPED' ? [] : [i])))
        await orch.close()
      }),
      { numRuns: 40 },
    )
  }, 60_000)

  it('recovery after a crash reaches the same decisions, repeating no stored result', async () => {
    await fc.assert(
      fc.asyncProperty(planArb, fc.nat(), async (plan, pick) => {
        const expected = model(plan)
        const ran = expected.flatMap((s, i) => (s === 'SKIPPED' ? [] : [i]))
        const { first, second, stop } = open()
        const probe = new Probe(plan)
        probe.crashAt = ran[pick % ran.length]
        const a = new Orchestrator({ store: first, circuitBreaker: NO_BREAKER })
        await a.register(probe.agent(true))
        const h = a.start(compileWorkflow({ name: 'prop', tasks: specOf(plan) }))
        for (let k = 0; k < 200 && !probe.crash; k++) await flush(1)
        expect(probe.crash).toBe(true)
        await flush(5)
        const before = await statesOf(first, h.id as RunId, plan.deps.length)
        const stored = before.flatMap((s, i) => (s === 'SUCCEEDED' || s === 'SKIPPED' || s === 'FAILED' ? [i] : []))
        for (const i of stored) expect(before[i]).toBe(expected[i])
        await stop(a)

        const store2 = second()
        const b = new Orchestrator({ store: store2, circuitBreaker: NO_BREAKER })
        const probe2 = new Probe(plan)
        for (const i of stored) if (before[i] === 'SUCCEEDED') probe2.finished.add(i)
        await b.register(probe2.agent(false))
        const handles = await b.recover({ runIds: [h.id as RunId] })
        expect(handles).toHaveLength(1)
        expect((await handles[0].result).state).toBe('SUCCEEDED')
        expect(await statesOf(store2, h.id as RunId, plan.deps.length)).toEqual(expected)
        for (const i of stored) expect(probe2.calls).not.toContain(i)
        expect(probe2.violations).toEqual([])
        await b.close()
      }),
      { numRuns: 25 },
    )
  }, 60_000)
})
