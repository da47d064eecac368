import { describe, expect, it } from 'vitest'
import { FlotillaError } from '../../src/core/errors.js'
import { compileWorkflow, type Workflow } from '../../src/workflows/compile.js'
import type { TaskSpec, WorkflowSpec } from '../../src/workflows/spec.js'

/** What `fn` throws, failing the test if it does not throw a FlotillaError. */
function thrown(fn: () => unknown): FlotillaError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(FlotillaError)
    return e as FlotillaError
  }
  throw new Error('expected a throw')
}

/** Compiles something that is not a valid spec type-wise. */
const compileAny = (spec: unknown): Workflow => compileWorkflow(spec as WorkflowSpec)

const wf = (tasks: TaskSpec[], extra: Partial<WorkflowSpec> = {}): WorkflowSpec => ({ name: 'demo', tasks, ...extra })

/** Asserts `cycle` is a closed walk along "waits for" edges of `spec` (dependsOn). */
function expectRealCycle(spec: WorkflowSpec, cycle: unknown): void {
  expect(Array.isArray(cycle)).toBe(true)
  const path = cycle as string[]
  expect(path.length).toBeGreaterThanOrEqual(2)
  expect(path[0]).toBe(path[path.length - 1])
  expect(new Set(path.slice(0, -1)).size).toBe(path.length - 1)
  const deps = new Map(spec.tasks.map((t) => [t.id, new Set(t.dependsOn ?? [])]))
  for (let k = 0; k + 1 < path.length; k++) {
    const waits = deps.get(path[k])
    expect(waits, `"${path[k]}" is a task`).toBeDefined()
    expect(waits!.has(path[k + 1]), `"${path[k]}" waits for "${path[k + 1]}"`).toBe(true)
  }
}

const depIds = (w: Workflow, id: string): string[] =>
  [...w.tasks[w.indexOf.get(id)!].deps].map((i) => w.tasks[i].id).sort()
const dependentIds = (w: Workflow, id: string): string[] =>
  [...w.tasks[w.indexOf.get(id)!].dependents].map((i) => w.tasks[i].id).sort()

describe('compileWorkflow: schema errors', () => {
  it('names a missing tasks list', () => {
    const e = thrown(() => compileAny({ name: 'demo' }))
    expect(e.code).toBe('WORKFLOW_INVALID')
    expect(e.message).toContain('"demo"')
    expect(e.message).toMatch(/tasks: .*expected array/)
    expect(e.details.issues).toEqual([expect.objectContaining({ path: 'tasks' })])
  })

  it('refuses an empty task list', () => {
    const e = thrown(() => compileAny({ name: 'demo', tasks: [] }))
    expect(e.code).toBe('WORKFLOW_INVALID')
    expect(e.message).toContain('at least one task')
  })

  it('names the task that gives both an agent and a capability, and one that gives neither', () => {
    const both = thrown(() =>
      compileAny(
        wf([
          { id: 'ok', agent: 'x' },
          { id: 'scan', agent: 'scanner', capability: 'scan' },
        ]),
      ),
    )
    expect(both.code).toBe('WORKFLOW_INVALID')
    expect(both.message).toContain('tasks[1 "scan"]')
    expect(both.message).toContain('exactly one of "agent" or "capability"')
    expect(both.details.issues).toEqual([expect.objectContaining({ path: 'tasks.1' })])
    const neither = thrown(() => compileAny(wf([{ id: 'lonely' }])))
    expect(neither.code).toBe('WORKFLOW_INVALID')
    expect(neither.message).toContain('tasks[0 "lonely"]')
  })

  it('names an unknown field and where it is', () => {
    const e = thrown(() => compileAny(wf([{ id: 'a', agent: 'x', retries: 3 } as TaskSpec])))
    expect(e.code).toBe('WORKFLOW_INVALID')
    expect(e.message).toContain('tasks[0 "a"]')
    expect(e.message).toContain('"retries"')
    const top = thrown(() => compileAny({ ...wf([{ id: 'a', agent: 'x' }]), parallelism: 2 }))
    expect(top.code).toBe('WORKFLOW_INVALID')
    expect(top.message).toContain('"parallelism"')
  })

  it('names a bad priority with its path and the allowed values', () => {
    const e = thrown(() =>
      compileAny(
        wf([
          { id: 'a', agent: 'x' },
          { id: 'b', agent: 'x', priority: 'URGENT' as never },
        ]),
      ),
    )
    expect(e.code).toBe('WORKFLOW_INVALID')
    expect(e.message).toContain('tasks[1 "b"].priority')
    expect(e.message).toContain('CRITICAL')
    expect(e.details.issues).toEqual([expect.objectContaining({ path: 'tasks.1.priority' })])
  })

  it('names nested problems: a bad retry policy, a bad task id, a non-positive timeout', () => {
    expect(thrown(() => compileAny(wf([{ id: 'a', agent: 'x', retry: { maxAttempts: 0 } }]))).message).toContain(
      'tasks[0 "a"].retry.maxAttempts',
    )
    expect(thrown(() => compileAny(wf([{ id: '1st', agent: 'x' }]))).message).toContain('tasks[0 "1st"].id')
    expect(thrown(() => compileAny(wf([{ id: 'a', agent: 'x', timeoutMs: 0 }]))).message).toContain(
      'tasks[0 "a"].timeoutMs',
    )
    expect(thrown(() => compileAny(wf([{ id: 'a', agent: 'x' }], { concurrency: 0 }))).message).toContain('concurrency')
  })

  it('refuses something that is not an object', () => {
    for (const bad of [null, 42, 'name: x', []]) {
      expect(thrown(() => compileAny(bad)).code).toBe('WORKFLOW_INVALID')
    }
  })
})

describe('compileWorkflow: graph errors', () => {
  it('refuses a duplicate task id naming it (WORKFLOW_DUPLICATE_TASK)', () => {
    const e = thrown(() =>
      compileWorkflow(
        wf([
          { id: 'a', agent: 'x' },
          { id: 'b', agent: 'x' },
          { id: 'a', agent: 'y' },
        ]),
      ),
    )
    expect(e.code).toBe('WORKFLOW_DUPLICATE_TASK')
    expect(e.message).toContain('"a"')
    expect(e.message).toContain('#1 and #3')
    expect(e.details).toMatchObject({ workflow: 'demo', taskId: 'a' })
  })

  it('refuses an unknown dependsOn, naming the task and the missing id', () => {
    const e = thrown(() =>
      compileWorkflow(
        wf([
          { id: 'a', agent: 'x' },
          { id: 'report', agent: 'x', dependsOn: ['a', 'scna'] },
        ]),
      ),
    )
    expect(e.code).toBe('WORKFLOW_UNKNOWN_DEPENDENCY')
    expect(e.message).toContain('task "report"')
    expect(e.message).toContain('"scna"')
    expect(e.message).toContain('Known tasks: a, report')
    expect(e.details).toMatchObject({ workflow: 'demo', taskId: 'scna' })
  })

  it('refuses a dangling $ref in an input, naming the task', () => {
    const e = thrown(() =>
      compileWorkflow(
        wf([
          { id: 'a', agent: 'x' },
          { id: 'fix', agent: 'x', input: { files: [{ $ref: 'tasks.scan.output.files' }] } },
        ]),
      ),
    )
    expect(e.code).toBe('WORKFLOW_UNKNOWN_DEPENDENCY')
    expect(e.message).toContain('task "fix"')
    expect(e.message).toContain('"scan"')
    expect(e.details).toMatchObject({ taskId: 'scan' })
  })

  it('refuses a dangling reference in a condition, naming the task', () => {
    const e = thrown(() => compileWorkflow(wf([{ id: 'a', agent: 'x', when: 'tasks.ghost.output.count > 0' }])))
    expect(e.code).toBe('WORKFLOW_UNKNOWN_DEPENDENCY')
    expect(e.message).toContain('task "a" when')
    expect(e.message).toContain('"ghost"')
  })

  it('reports a cycle a → b → c → a with its path (WORKFLOW_CYCLE)', () => {
    const spec = wf([
      { id: 'start', agent: 'x' },
      { id: 'a', agent: 'x', dependsOn: ['start', 'b'] },
      { id: 'b', agent: 'x', dependsOn: ['c'] },
      { id: 'c', agent: 'x', dependsOn: ['a'] },
      { id: 'after', agent: 'x', dependsOn: ['c'] },
    ])
    const e = thrown(() => compileWorkflow(spec))
    expect(e.code).toBe('WORKFLOW_CYCLE')
    const cycle = e.details.cycle as string[]
    expectRealCycle(spec, cycle)
    expect(new Set(cycle)).toEqual(new Set(['a', 'b', 'c']))
    expect(cycle).toHaveLength(4)
    expect(e.message).toContain(cycle.join(' → '))
    expect(e.details.workflow).toBe('demo')
  })

  it('reports a cycle reached only through an acyclic prefix, and not the prefix', () => {
    const spec = wf([
      { id: 'r1', agent: 'x' },
      { id: 'r2', agent: 'x', dependsOn: ['r1'] },
      { id: 'p', agent: 'x', dependsOn: ['r2', 'q'] },
      { id: 'q', agent: 'x', dependsOn: ['p'] },
      { id: 'tail', agent: 'x', dependsOn: ['p'] },
    ])
    const e = thrown(() => compileWorkflow(spec))
    expect(e.code).toBe('WORKFLOW_CYCLE')
    expectRealCycle(spec, e.details.cycle)
    expect(new Set(e.details.cycle as string[])).toEqual(new Set(['p', 'q']))
  })

  it('reports a self-dependency, through dependsOn or through a reference', () => {
    const direct = thrown(() =>
      compileWorkflow(
        wf([
          { id: 'a', agent: 'x' },
          { id: 'loop', agent: 'x', dependsOn: ['loop'] },
        ]),
      ),
    )
    expect(direct.code).toBe('WORKFLOW_CYCLE')
    expect(direct.details.cycle).toEqual(['loop', 'loop'])
    expect(direct.message).toContain('loop → loop')
    const viaRef = thrown(() => compileWorkflow(wf([{ id: 'me', agent: 'x', input: { $ref: 'tasks.me.output' } }])))
    expect(viaRef.code).toBe('WORKFLOW_CYCLE')
    expect(viaRef.details.cycle).toEqual(['me', 'me'])
  })

  it('reports a cycle made by references', () => {
    const e = thrown(() =>
      compileWorkflow(
        wf([
          { id: 'a', agent: 'x', input: { $ref: 'tasks.b.output' } },
          { id: 'b', agent: 'x', when: 'tasks.a.output.ok' },
        ]),
      ),
    )
    expect(e.code).toBe('WORKFLOW_CYCLE')
    expect(new Set(e.details.cycle as string[])).toEqual(new Set(['a', 'b']))
  })

  it.each([
    ['a non-string $ref', { $ref: 5 }],
    ['a ref that does not start with input or tasks', { $ref: 'env.HOME' }],
    ['a ref missing .output', { $ref: 'tasks.a' }],
    ['a ref with an empty segment', { $ref: 'tasks..output' }],
    ['a nested bad ref', { list: [1, { deep: { $ref: 'tasks.a.result' } }] }],
  ])('refuses %s (WORKFLOW_BAD_REFERENCE), naming the task', (_label, input) => {
    const e = thrown(() =>
      compileWorkflow(
        wf([
          { id: 'a', agent: 'x' },
          { id: 'b', agent: 'x', input },
        ]),
      ),
    )
    expect(e.code).toBe('WORKFLOW_BAD_REFERENCE')
    expect(e.message).toContain('task "b" input')
  })

  it('names where a nested bad reference sits', () => {
    const e = thrown(() =>
      compileWorkflow(
        wf([
          { id: 'a', agent: 'x' },
          { id: 'b', agent: 'x', input: { list: [1, { deep: { $ref: 'tasks.a.result' } }] } },
        ]),
      ),
    )
    expect(e.details.where).toBe('task "b" input.list[1].deep')
  })

  it.each(['input.x >', 'input.x # 3', '(input.a', 'input.a input.b', 'foo.bar', '&& input.a', 'tasks.a'])(
    'refuses the malformed condition %j (WORKFLOW_BAD_REFERENCE)',
    (when) => {
      const e = thrown(() =>
        compileWorkflow(
          wf([
            { id: 'a', agent: 'x' },
            { id: 'b', agent: 'x', when },
          ]),
        ),
      )
      expect(e.code).toBe('WORKFLOW_BAD_REFERENCE')
      expect(e.message).toContain('task "b" when')
    },
  )
})

describe('compileWorkflow: the compiled graph', () => {
  it('adds the tasks named by input references and conditions as dependencies, once each', () => {
    const w = compileWorkflow(
      wf([
        { id: 'scan', agent: 'x' },
        { id: 'count', agent: 'x' },
        {
          id: 'fix',
          agent: 'x',
          dependsOn: ['scan'],
          input: {
            files: { $ref: 'tasks.scan.output.files' },
            again: [{ $ref: 'tasks.scan.output' }],
            dir: { $ref: 'input.dir' },
          },
        },
        { id: 'gate', agent: 'x', when: 'tasks.count.output.n > 0 && input.apply' },
        { id: 'report', agent: 'x', input: { fixed: { $ref: 'tasks.fix.output' } }, when: 'tasks.gate.output' },
      ]),
    )
    expect(depIds(w, 'fix')).toEqual(['scan'])
    expect(depIds(w, 'gate')).toEqual(['count'])
    expect(depIds(w, 'report')).toEqual(['fix', 'gate'])
    expect(dependentIds(w, 'scan')).toEqual(['fix'])
    expect(dependentIds(w, 'count')).toEqual(['gate'])
    expect([...w.inDegree]).toEqual([0, 0, 1, 1, 2])
    expect([...w.roots].map((i) => w.tasks[i].id)).toEqual(['scan', 'count'])
  })

  it('orders tasks topologically', () => {
    const w = compileWorkflow(
      wf([
        { id: 'd', agent: 'x', dependsOn: ['b', 'c'] },
        { id: 'c', agent: 'x', dependsOn: ['a'] },
        { id: 'b', agent: 'x', dependsOn: ['a'] },
        { id: 'a', agent: 'x' },
      ]),
    )
    const pos = new Map([...w.order].map((i, k) => [w.tasks[i].id, k]))
    expect(w.order).toHaveLength(4)
    for (const t of w.tasks) for (const d of t.deps) expect(pos.get(w.tasks[d].id)!).toBeLessThan(pos.get(t.id)!)
  })

  it('computes the critical path length of every task', () => {
    const w = compileWorkflow(
      wf([
        { id: 'a', agent: 'x' },
        { id: 'b', agent: 'x', dependsOn: ['a'] },
        { id: 'c', agent: 'x', dependsOn: ['a'] },
        { id: 'c2', agent: 'x', dependsOn: ['c'] },
        { id: 'd', agent: 'x', dependsOn: ['b', 'c2'] },
        { id: 'lone', agent: 'x' },
      ]),
    )
    const cpl = Object.fromEntries(w.tasks.map((t) => [t.id, t.criticalPathLength]))
    expect(cpl).toEqual({ a: 4, b: 2, c: 3, c2: 2, d: 1, lone: 1 })
  })

  it('ranks by priority first, then longer critical path first', () => {
    const w = compileWorkflow(
      wf([
        { id: 'low_long', agent: 'x', priority: 'LOW' },
        { id: 'low_long2', agent: 'x', dependsOn: ['low_long'], priority: 'LOW' },
        { id: 'low_long3', agent: 'x', dependsOn: ['low_long2'], priority: 'LOW' },
        { id: 'crit', agent: 'x', priority: 'CRITICAL' },
        { id: 'high', agent: 'x', priority: 'HIGH' },
        { id: 'med_long', agent: 'x' },
        { id: 'med_long2', agent: 'x', dependsOn: ['med_long'] },
        { id: 'med_short', agent: 'x' },
      ]),
    )
    const rank = (id: string): number => w.tasks[w.indexOf.get(id)!].rank
    const sorted = [...w.tasks].sort((x, y) => x.rank - y.rank).map((t) => t.id)
    expect(sorted.indexOf('crit')).toBe(0)
    expect(sorted.indexOf('high')).toBe(1)
    expect(rank('med_long')).toBeLessThan(rank('med_short'))
    expect(rank('med_short')).toBeLessThan(rank('low_long'))
    expect(rank('low_long')).toBeLessThan(rank('low_long2'))
    expect(w.tasks[w.indexOf.get('med_short')!].priority).toBe('MEDIUM')
  })

  it('applies the workflow defaults and lets a task override them', () => {
    const w = compileWorkflow(
      wf(
        [
          { id: 'a', agent: 'x' },
          { id: 'b', agent: 'x', priority: 'LOW', timeoutMs: 5, retry: { maxAttempts: 2 } },
        ],
        {
          defaults: { priority: 'HIGH', timeoutMs: 1000, retry: { maxAttempts: 4, initialDelayMs: 7 } },
          concurrency: 3,
        },
      ),
    )
    const [a, b] = w.tasks
    expect(a).toMatchObject({ priority: 'HIGH', timeoutMs: 1000, continueOnFailure: false })
    expect(a.retry).toMatchObject({ maxAttempts: 4, initialDelayMs: 7 })
    expect(b).toMatchObject({ priority: 'LOW', timeoutMs: 5 })
    expect(b.retry).toMatchObject({ maxAttempts: 2, initialDelayMs: 100 })
    expect(w.concurrency).toBe(3)
    const plain = compileWorkflow(wf([{ id: 'a', capability: 'scan', version: '1.0.0' }]))
    expect(plain.concurrency).toBe(Infinity)
    expect(plain.tasks[0]).toMatchObject({ priority: 'MEDIUM', timeoutMs: undefined, selector: { capability: 'scan' } })
    expect(plain.tasks[0].retry.maxAttempts).toBe(1)
    expect(compileWorkflow(wf([{ id: 'a', agent: 'x', version: '2.0.0' }])).tasks[0].selector).toEqual({
      agent: 'x',
      version: '2.0.0',
    })
  })
})

describe('compileWorkflow: isolation', () => {
  it('is not changed by later edits to the spec object it was given', () => {
    const spec: WorkflowSpec = {
      name: 'iso',
      tasks: [
        { id: 'a', agent: 'x', input: { n: 1 } },
        { id: 'b', agent: 'y', dependsOn: ['a'] },
      ],
    }
    const w = compileWorkflow(spec)
    const hash = w.hash
    const [a, b] = spec.tasks as TaskSpec[]
    a.agent = 'changed'
    ;(a.input as { n: number }).n = 2
    b.dependsOn!.push('zzz')
    spec.tasks.push({ id: 'c', agent: 'x' })
    expect(w.spec.tasks).toHaveLength(2)
    expect(w.spec.tasks[0]).toEqual({ id: 'a', agent: 'x', input: { n: 1 } })
    expect((w.spec.tasks[1] as TaskSpec).dependsOn).toEqual(['a'])
    expect(compileWorkflow(w.spec as WorkflowSpec).hash).toBe(hash)
  })
})

describe('compileWorkflow: hash', () => {
  const base = (): WorkflowSpec => ({
    name: 'h',
    version: 2,
    tasks: [
      { id: 'a', agent: 'x', input: { k: 1, nested: { p: 'q', r: [1, 2] } }, priority: 'HIGH' },
      { id: 'b', agent: 'y', dependsOn: ['a'], retry: { maxAttempts: 3, initialDelayMs: 5 } },
    ],
  })

  it('is a SHA-256 hex digest, stable across compiles and key order', () => {
    const h = compileWorkflow(base()).hash
    expect(h).toMatch(/^[0-9a-f]{64}$/)
    expect(compileWorkflow(base()).hash).toBe(h)
    const reordered: WorkflowSpec = {
      tasks: [
        { priority: 'HIGH', input: { nested: { r: [1, 2], p: 'q' }, k: 1 }, agent: 'x', id: 'a' },
        { retry: { initialDelayMs: 5, maxAttempts: 3 }, dependsOn: ['a'], id: 'b', agent: 'y' },
      ],
      version: 2,
      name: 'h',
    }
    expect(compileWorkflow(reordered).hash).toBe(h)
  })

  it('changes when a task changes', () => {
    const h = compileWorkflow(base()).hash
    const changes: ((s: WorkflowSpec) => void)[] = [
      (s) => ((s.tasks[0] as TaskSpec).agent = 'z'),
      (s) => (((s.tasks[0] as TaskSpec).input as { k: number }).k = 2),
      (s) => ((s.tasks[0] as TaskSpec).input as { nested: { r: number[] } }).nested.r.push(3),
      (s) => ((s.tasks[1] as TaskSpec).retry = { maxAttempts: 4, initialDelayMs: 5 }),
      (s) => (s.tasks[1].priority = 'LOW'),
      (s) => s.tasks.push({ id: 'c', agent: 'x' }),
      (s) => (s.name = 'h2'),
    ]
    const seen = new Set([h])
    for (const change of changes) {
      const s = base()
      change(s)
      const changed = compileWorkflow(s).hash
      expect(seen.has(changed)).toBe(false)
      seen.add(changed)
    }
  })
})

describe('compileWorkflow: scale', () => {
  const N = 100_000

  it('compiles a 100,000-task chain without deep recursion', () => {
    const tasks: TaskSpec[] = new Array(N)
    for (let i = 0; i < N; i++)
      tasks[i] = i === 0 ? { id: 't0', agent: 'x' } : { id: `t${i}`, agent: 'x', dependsOn: [`t${i - 1}`] }
    const w = compileWorkflow({ name: 'chain', tasks })
    expect(w.tasks).toHaveLength(N)
    expect(w.tasks[0].criticalPathLength).toBe(N)
    expect(w.tasks[N - 1].criticalPathLength).toBe(1)
    expect([...w.roots]).toEqual([0])
    expect(w.order[N - 1]).toBe(N - 1)
  })

  it('reports a 100,000-task cycle without overflowing the stack', () => {
    const tasks: TaskSpec[] = new Array(N)
    for (let i = 0; i < N; i++) tasks[i] = { id: `t${i}`, agent: 'x', dependsOn: [`t${(i + N - 1) % N}`] }
    const e = thrown(() => compileWorkflow({ name: 'ring', tasks }))
    expect(e.code).toBe('WORKFLOW_CYCLE')
    const cycle = e.details.cycle as string[]
    expect(cycle).toHaveLength(N + 1)
    expect(cycle[0]).toBe(cycle[N])
    // Each task waits for the previous one in the ring.
    for (let k = 0; k < 10; k++) {
      const i = Number(cycle[k].slice(1))
      expect(cycle[k + 1]).toBe(`t${(i + N - 1) % N}`)
    }
  })
})
