import { describe, expect, it } from 'vitest'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import type { TaskSpec, WorkflowSpec } from '../../src/workflows/spec.js'
import { agent, flush, Gates } from './helpers.js'

/** n independent tasks t0..t(n-1) on `target`. */
function fanOut(
  name: string,
  n: number,
  target: Pick<TaskSpec, 'agent' | 'capability'>,
  extra: Partial<WorkflowSpec> = {},
): WorkflowSpec {
  return {
    name,
    tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, ...target, input: `${name}:t${i}` })),
    ...extra,
  }
}

describe('priorities', () => {
  it('starts ready tasks by priority, then longer critical path, then FIFO (global concurrency 1)', async () => {
    const o = new Orchestrator({ concurrency: 1 })
    const order: string[] = []
    await o.register(agent('rec', (_x, ctx) => void order.push(ctx.taskId)))
    const wf = workflow('prio')
      .task('A', { agent: 'rec' }) // MEDIUM, path 1
      .task('L', { agent: 'rec', priority: 'LOW' })
      .task('B', { agent: 'rec' }) // MEDIUM, path 2
      .task('b2', { agent: 'rec', dependsOn: ['B'], priority: 'LOW' })
      .task('H', { agent: 'rec', priority: 'HIGH' })
      .task('C', { agent: 'rec' }) // MEDIUM, path 3
      .task('c2', { agent: 'rec', dependsOn: ['C'], priority: 'LOW' })
      .task('c3', { agent: 'rec', dependsOn: ['c2'], priority: 'LOW' })
      .task('D', { agent: 'rec' }) // MEDIUM, path 1, after A
      .task('X', { agent: 'rec', priority: 'CRITICAL' })
      .build()
    const result = await o.run(wf)
    expect(result.ok).toBe(true)
    expect(order).toEqual(['X', 'H', 'C', 'B', 'A', 'D', 'c2', 'L', 'b2', 'c3'])
  })

  it('orders CRITICAL, HIGH, MEDIUM, LOW whatever the declaration order (run concurrency 1)', async () => {
    const o = new Orchestrator()
    const order: string[] = []
    await o.register(agent('rec', async (_x, ctx) => void order.push(ctx.taskId)))
    const wf = workflow('prio2')
      .task('low', { agent: 'rec', priority: 'LOW' })
      .task('medium', { agent: 'rec' })
      .task('high', { agent: 'rec', priority: 'HIGH' })
      .task('critical', { agent: 'rec', priority: 'CRITICAL' })
      .build()
    await o.run(wf, undefined, { concurrency: 1 })
    expect(order).toEqual(['critical', 'high', 'medium', 'low'])
  })
})

describe('concurrency limits', () => {
  it('honours the global limit across runs', async () => {
    const gates = new Gates()
    const o = new Orchestrator({ concurrency: 2 })
    await o.register(agent('g', (x) => gates.pass(String(x))))
    const a = o.start(fanOut('ga', 4, { agent: 'g' }))
    const b = o.start(fanOut('gb', 4, { agent: 'g' }))
    await flush()
    expect(gates.current).toBe(2)
    await gates.drive(Promise.all([a.result, b.result]))
    expect(gates.max).toBe(2)
    expect(gates.finished).toHaveLength(8)
    expect((await a.result).ok && (await b.result).ok).toBe(true)
  })

  it('honours the run concurrency option, and lets other runs use the remaining slots', async () => {
    const gates = new Gates()
    const o = new Orchestrator()
    await o.register(agent('g', (x) => gates.pass(String(x))))
    const a = o.start(fanOut('ra', 10, { agent: 'g' }), undefined, { concurrency: 3 })
    await flush()
    expect(gates.current).toBe(3)
    const b = o.start(fanOut('rb', 2, { agent: 'g' }))
    await flush()
    expect(gates.current).toBe(5)
    let maxA = 0
    await gates.drive(Promise.all([a.result, b.result]), () => {
      maxA = Math.max(maxA, gates.open.filter((k) => k.startsWith('ra:')).length)
    })
    expect(maxA).toBe(3)
    expect((await a.result).summary.peakConcurrency).toBe(3)
  })

  it('honours the workflow concurrency, and a run option overrides it', async () => {
    const gates = new Gates()
    const o = new Orchestrator()
    await o.register(agent('g', (x) => gates.pass(String(x))))
    const h = o.start(fanOut('wc', 7, { agent: 'g' }, { concurrency: 2 }))
    await gates.drive(h.result)
    expect(gates.max).toBe(2)
    const gates2 = new Gates()
    await o.register(agent('g2', (x) => gates2.pass(String(x))))
    const h2 = o.start(fanOut('wc2', 7, { agent: 'g2' }, { concurrency: 2 }), undefined, { concurrency: 4 })
    await gates2.drive(h2.result)
    expect(gates2.max).toBe(4)
  })

  it('refuses a run concurrency below 1', async () => {
    const o = new Orchestrator()
    await o.register(agent('g', () => 1))
    expect(() => o.start(fanOut('bad', 1, { agent: 'g' }), undefined, { concurrency: 0 })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    )
    expect(await o.listRuns()).toEqual([])
  })

  it('honours per-capability limits, whether tasks name the capability or an agent offering it', async () => {
    const gates = new Gates()
    const o = new Orchestrator({ capabilityConcurrency: { llm: 2 } })
    await o.register(agent('writer', (x) => gates.pass(`llm:${String(x)}`), { capabilities: ['llm', 'text'] }))
    await o.register(agent('reviewer', (x) => gates.pass(`llm:${String(x)}`), { capabilities: ['llm'] }))
    await o.register(agent('plain', (x) => gates.pass(`plain:${String(x)}`)))
    const wf: WorkflowSpec = {
      name: 'caps',
      tasks: [
        ...Array.from({ length: 4 }, (_, i) => ({ id: `cap${i}`, capability: 'llm', input: `cap${i}` })),
        ...Array.from({ length: 3 }, (_, i) => ({ id: `w${i}`, agent: 'writer', input: `w${i}` })),
        ...Array.from({ length: 3 }, (_, i) => ({ id: `r${i}`, agent: 'reviewer', input: `r${i}` })),
        ...Array.from({ length: 4 }, (_, i) => ({ id: `p${i}`, agent: 'plain', input: `p${i}` })),
      ],
    }
    const h = o.start(wf)
    await flush()
    expect(gates.open.filter((k) => k.startsWith('llm:'))).toHaveLength(2)
    expect(gates.open.filter((k) => k.startsWith('plain:'))).toHaveLength(4)
    let maxLlm = 0
    await gates.drive(h.result, () => {
      maxLlm = Math.max(maxLlm, gates.open.filter((k) => k.startsWith('llm:')).length)
    })
    expect(maxLlm).toBe(2)
    expect((await h.result).ok).toBe(true)
    expect(gates.finished).toHaveLength(14)
  })

  it('honours an agent maxConcurrency', async () => {
    const gates = new Gates()
    const o = new Orchestrator()
    await o.register(agent('narrow', (x) => gates.pass(String(x)), { maxConcurrency: 2 }))
    const h = o.start(fanOut('mc', 6, { agent: 'narrow' }))
    await flush()
    expect(gates.current).toBe(2)
    await gates.drive(h.result)
    expect(gates.max).toBe(2)
    expect((await h.result).ok).toBe(true)
  })

  it('spreads work over several instances, each within its maxConcurrency', async () => {
    const gates = new Gates()
    const perInstance = new Map<string, { now: number; max: number; calls: number }>()
    const o = new Orchestrator()
    await o.register(
      agent(
        'worker',
        async (x, ctx) => {
          const s = perInstance.get(ctx.instanceId) ?? { now: 0, max: 0, calls: 0 }
          perInstance.set(ctx.instanceId, s)
          s.now++
          s.calls++
          s.max = Math.max(s.max, s.now)
          try {
            return await gates.pass(String(x))
          } finally {
            s.now--
          }
        },
        { maxConcurrency: 1 },
      ),
      { instances: 3 },
    )
    const h = o.start(fanOut('inst', 9, { agent: 'worker' }))
    await flush()
    expect(gates.current).toBe(3)
    await gates.drive(h.result)
    expect(gates.max).toBe(3)
    expect(perInstance.size).toBe(3)
    for (const s of perInstance.values()) {
      expect(s.max).toBe(1)
      expect(s.calls).toBeGreaterThanOrEqual(1)
    }
    expect([...perInstance.values()].reduce((n, s) => n + s.calls, 0)).toBe(9)
  })

  it('applies the tightest of global, run and agent limits', async () => {
    const gates = new Gates()
    const o = new Orchestrator({ concurrency: 5 })
    await o.register(agent('w', (x) => gates.pass(String(x)), { maxConcurrency: 4 }))
    const h = o.start(fanOut('tight', 12, { agent: 'w' }), undefined, { concurrency: 3 })
    await gates.drive(h.result)
    expect(gates.max).toBe(3)
  })
})

describe('run options given as the input', () => {
  it('run(workflow, { concurrency }) is refused with VALIDATION_FAILED naming the third argument; nothing runs', async () => {
    const o = new Orchestrator({ store: 'memory' })
    let ran = 0
    await o.register(agent('count', () => void ran++))
    const wf = workflow('opts').task('a', { agent: 'count' }).build()
    await expect(o.run(wf, { concurrency: 4 })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('run(workflow, input, { concurrency })'),
    })
    expect(ran).toBe(0)
    expect(await o.listRuns()).toEqual([])
    // The same input with the options in place, or a workflow that declares it as an input, runs.
    expect((await o.run(wf, undefined, { concurrency: 4 })).state).toBe('SUCCEEDED')
    const declared = await o.run(
      { name: 'takes', inputs: { concurrency: { type: 'number' } }, tasks: [{ id: 'a', agent: 'count' }] },
      { concurrency: 4 },
    )
    expect(declared.state).toBe('SUCCEEDED')
    expect(ran).toBe(2)
    await o.close()
  })
})
