import type { TaskSpec } from '../../src/workflows/spec.js'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { inputRef, ref, workflow } from '../../src/workflows/builder.js'
import { compileWorkflow } from '../../src/workflows/compile.js'
import type { RunResult } from '../../src/workflows/results.js'
import type { WorkflowSpec } from '../../src/workflows/spec.js'
import { agent } from './helpers.js'

async function math(): Promise<Orchestrator> {
  const o = new Orchestrator()
  await o.register(agent('const', (x) => x))
  await o.register(agent('times3', (x) => (x as number) * 3, { capabilities: ['multiply'] }))
  await o.register(agent('plus1', (x) => (x as number) + 1))
  await o.register(agent('sum', async (x) => (x as { l: number; r: number }).l + (x as { l: number; r: number }).r))
  await o.register(agent('echo', (x) => x))
  return o
}

describe('data flow', () => {
  it('passes outputs along the references of a diamond', async () => {
    const o = await math()
    const wf = workflow('diamond')
      .task('a', { agent: 'const', input: 2 })
      .task('b', { capability: 'multiply', input: ref('a') })
      .task('c', { agent: 'plus1', input: ref('a') })
      .task('d', { agent: 'sum', input: { l: ref('b'), r: ref('c') } })
      .build()
    const result = await o.run(wf)
    expect(result.ok).toBe(true)
    expect(result.state).toBe('SUCCEEDED')
    expect(result.outputs).toEqual({ a: 2, b: 6, c: 3, d: 9 })
    expect(result.output('d')).toBe(9)
    const stored = await o.getTasks(result.runId)
    expect(stored.map((t) => [t.taskId, t.state, t.output, t.attempt])).toEqual([
      ['a', 'SUCCEEDED', 2, 1],
      ['b', 'SUCCEEDED', 6, 1],
      ['c', 'SUCCEEDED', 3, 1],
      ['d', 'SUCCEEDED', 9, 1],
    ])
    expect(stored[1].agent).toBe('times3@1.0.0')
    const run = await o.getRun(result.runId)
    expect(run).toMatchObject({ state: 'SUCCEEDED', workflow: 'diamond', workflowHash: wf.hash, definition: wf.spec })
    expect(run.finishedAt).toBeGreaterThanOrEqual(run.startedAt!)
  })

  it('resolves field paths and nested templates', async () => {
    const o = await math()
    const wf = workflow('paths')
      .task('a', { agent: 'const', input: { files: ['x.ts', 'y.ts'], meta: { n: 2 } } })
      .task('b', {
        agent: 'echo',
        input: {
          first: ref('a', 'files.0'),
          n: ref('a', 'meta.n'),
          all: [ref('a', 'files'), 'lit'],
          missing: ref('a', 'nope.deeper'),
        },
      })
      .build()
    const result = await o.run(wf)
    expect(result.output('b')).toEqual({ first: 'x.ts', n: 2, all: [['x.ts', 'y.ts'], 'lit'], missing: undefined })
  })

  it('does not let a handler that mutates its literal input change the workflow or the next run', async () => {
    const o = new Orchestrator()
    const seen: string[] = []
    await o.register(
      agent('mutator', (x) => {
        seen.push(JSON.stringify(x))
        try {
          ;(x as { list: number[] }).list.push(1)
        } catch {
          // a frozen input is an acceptable way to refuse the mutation
        }
        return 'done'
      }),
    )
    const wf = workflow('mutation')
      .task('a', { agent: 'mutator', input: { list: [] } })
      .build()
    const hash = wf.hash
    await o.run(wf)
    await o.run(wf)
    expect(seen).toEqual(['{"list":[]}', '{"list":[]}'])
    expect((wf.spec.tasks[0] as TaskSpec).input).toEqual({ list: [] })
    expect(wf.hash).toBe(hash)
    const runs = await o.listRuns({ workflow: 'mutation' })
    for (const run of runs)
      expect((run.definition as { tasks: { input: unknown }[] }).tasks[0].input).toEqual({ list: [] })
  })

  it('throws VALIDATION_FAILED for the output of a task the workflow does not have', async () => {
    const o = await math()
    const result = await o.run(workflow('one').task('a', { agent: 'const', input: 1 }).build())
    expect(() => (result as RunResult).output('zzz')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
  })

  it('accepts a plain spec as well as a compiled workflow', async () => {
    const o = await math()
    const spec: WorkflowSpec = {
      name: 'plain',
      tasks: [
        { id: 'a', agent: 'const', input: 5 },
        { id: 'b', agent: 'plus1', input: { $ref: 'tasks.a.output' } },
      ],
    }
    expect((await o.run(spec)).outputs).toEqual({ a: 5, b: 6 })
  })
})

describe('run inputs', () => {
  const spec = (): WorkflowSpec => ({
    name: 'inputs',
    inputs: {
      dir: { type: 'string', default: '.' },
      count: { type: 'number', required: true, description: 'how many' },
      flags: { type: 'array' },
    },
    tasks: [
      {
        id: 'show',
        agent: 'echo',
        input: {
          dir: { $ref: 'input.dir' },
          count: { $ref: 'input.count' },
          extra: { $ref: 'input.extra' },
          all: { $ref: 'input' },
        },
      },
    ],
  })

  it('applies defaults, passes given values and undeclared keys through to references', async () => {
    const o = await math()
    const result = await o.run(spec(), { count: 3, extra: 'x' })
    expect(result.output('show')).toEqual({ dir: '.', count: 3, extra: 'x', all: { dir: '.', count: 3, extra: 'x' } })
    expect((await o.getRun(result.runId)).input).toEqual({ dir: '.', count: 3, extra: 'x' })
    const given = await o.run(spec(), { count: 1, dir: '/src' })
    expect(given.output('show')).toMatchObject({ dir: '/src', count: 1 })
  })

  it('refuses a missing required input with VALIDATION_FAILED naming it, and stores nothing', async () => {
    const o = await math()
    const e = (() => {
      try {
        o.start(spec(), { dir: 'x' })
      } catch (err) {
        return err as { code: string; message: string; details: Record<string, unknown> }
      }
      throw new Error('expected a throw')
    })()
    expect(e.code).toBe('VALIDATION_FAILED')
    expect(e.message).toContain('"count"')
    expect(e.message).toContain('how many')
    expect(e.details).toEqual({ input: 'count' })
    expect(await o.listRuns()).toEqual([])
  })

  it('refuses an input of the wrong type, naming expected and actual types', async () => {
    const o = await math()
    expect(() => o.start(spec(), { count: '3' })).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        details: { input: 'count', expected: 'number', actual: 'string' },
      }),
    )
    expect(() => o.start(spec(), { count: 1, flags: { a: 1 } })).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        details: expect.objectContaining({ input: 'flags', expected: 'array', actual: 'object' }),
      }),
    )
    expect(() => o.start(spec(), { count: null })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', details: expect.objectContaining({ actual: 'null' }) }),
    )
    expect(await o.listRuns()).toEqual([])
  })

  it('refuses an input that is not an object when inputs are declared', async () => {
    const o = await math()
    for (const bad of [5, 'count=3', [1], null]) {
      expect(() => o.start(spec(), bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'VALIDATION_FAILED' }),
      )
    }
    expect(await o.listRuns()).toEqual([])
  })

  it('passes any input through when no inputs are declared', async () => {
    const o = await math()
    const wf = workflow('free').task('a', { agent: 'echo', input: inputRef() }).build()
    expect((await o.run(wf, [1, 2])).output('a')).toEqual([1, 2])
    expect((await o.run(wf, 'text')).output('a')).toBe('text')
  })
})

describe('agent schemas', () => {
  it('fails a task whose input fails the agent schema with AGENT_INPUT_INVALID naming the path, without calling the handler', async () => {
    const o = new Orchestrator()
    let calls = 0
    await o.register(
      defineAgent({
        name: 'typed',
        input: z.object({ user: z.object({ age: z.number() }) }),
        handler: ({ user }) => (calls++, user.age),
      }),
    )
    const wf = workflow('bad-input')
      .task('t', { agent: 'typed', input: { user: { age: 'old' } }, retry: { maxAttempts: 3, initialDelayMs: 0 } })
      .build()
    const result = await o.run(wf)
    expect(result.state).toBe('FAILED')
    expect(calls).toBe(0)
    const err = result.tasks.t.error!
    expect(err.code).toBe('AGENT_INPUT_INVALID')
    expect(err.message).toContain('"user.age"')
    expect(err.details).toMatchObject({ taskId: 't', agent: 'typed', path: 'user.age' })
    expect(result.tasks.t.attempts).toBe(1)
    expect(result.error?.code).toBe('AGENT_INPUT_INVALID')
    expect((await o.getTasks(result.runId))[0]).toMatchObject({
      state: 'FAILED',
      error: { code: 'AGENT_INPUT_INVALID' },
    })
  })

  it('gives the handler the parsed input (schema defaults and transforms applied)', async () => {
    const o = new Orchestrator()
    await o.register(
      defineAgent({
        name: 'parsed',
        input: z.object({ n: z.string().transform(Number), k: z.number().default(10) }),
        handler: ({ n, k }) => n + k,
      }),
    )
    expect(
      (
        await o.run(
          workflow('p')
            .task('t', { agent: 'parsed', input: { n: '5' } })
            .build(),
        )
      ).output('t'),
    ).toBe(15)
  })

  it('fails a task whose output fails the agent schema with AGENT_OUTPUT_INVALID naming the path', async () => {
    const o = new Orchestrator()
    await o.register(
      defineAgent({
        name: 'liar',
        output: z.object({ items: z.array(z.object({ ok: z.boolean() })) }),
        handler: () => ({ items: [{ ok: true }, { ok: 'yes' }] }) as never,
      }),
    )
    const result = await o.run(workflow('bad-output').task('t', { agent: 'liar' }).build())
    expect(result.state).toBe('FAILED')
    const err = result.tasks.t.error!
    expect(err.code).toBe('AGENT_OUTPUT_INVALID')
    expect(err.message).toContain('"items.1.ok"')
    expect(err.details).toMatchObject({ agent: 'liar', path: 'items.1.ok' })
    expect(result.output('t')).toBeUndefined()
    expect((await o.getTasks(result.runId))[0]).toMatchObject({
      state: 'FAILED',
      output: undefined,
      error: { code: 'AGENT_OUTPUT_INVALID' },
    })
  })
})

describe('unknown agents', () => {
  it.each([
    ['an unknown agent', { id: 't', agent: 'ghost' }, 'WORKFLOW_UNKNOWN_AGENT'],
    ['an unknown capability', { id: 't', capability: 'telepathy' }, 'WORKFLOW_UNKNOWN_AGENT'],
    ['an unknown fallback', { id: 't', agent: 'echo', fallback: 'ghost' }, 'WORKFLOW_UNKNOWN_AGENT'],
    ['an unknown version', { id: 't', agent: 'echo', version: '9.9.9' }, 'VERSION_NOT_SATISFIED'],
  ])('refuses %s at start with a typed error naming the task, storing nothing', async (_label, task, code) => {
    const o = await math()
    const spec: WorkflowSpec = { name: 'unknown', tasks: [{ id: 'fine', agent: 'echo' }, task] }
    let err: { code?: string; message?: string; details?: Record<string, unknown> } = {}
    try {
      o.start(spec)
    } catch (e) {
      err = e as typeof err
    }
    expect(err.code).toBe(code)
    expect(err.message).toContain('task "t"')
    expect(err.details).toMatchObject({ workflow: 'unknown', taskId: 't' })
    expect(() => o.validate(compileWorkflow(spec))).toThrow(expect.objectContaining({ code }))
    expect(await o.listRuns()).toEqual([])
  })

  it('rejects the promise of run() (not a synchronous throw) for an unknown agent', async () => {
    const o = await math()
    let promise: Promise<unknown> | undefined
    expect(() => {
      promise = o.run(workflow('x').task('t', { agent: 'ghost' }).build())
    }).not.toThrow()
    await expect(promise).rejects.toMatchObject({ code: 'WORKFLOW_UNKNOWN_AGENT' })
    expect(await o.listRuns()).toEqual([])
  })
})

describe('templates', () => {
  it('runs a registered template with parameters', async () => {
    const o = await math()
    o.registerTemplate('bump', {
      name: 'bump-template',
      inputs: { n: { type: 'number', required: true } },
      tasks: [
        { id: 'start', agent: 'echo', input: { $ref: 'input.n' } },
        { id: 'next', agent: 'plus1', input: { $ref: 'tasks.start.output' } },
      ],
    })
    o.registerTemplate(
      'triple',
      workflow('triple')
        .task('t', { agent: 'times3', input: inputRef('x') })
        .build(),
    )
    expect(o.templateNames().sort()).toEqual(['bump', 'triple'])
    const bumped = await o.runTemplate('bump', { n: 41 })
    expect(bumped.output('next')).toBe(42)
    expect(bumped.workflow).toBe('bump-template')
    expect((await o.runTemplate('triple', { x: 5 })).output('t')).toBe(15)
    expect((await o.listRuns({ workflow: 'bump-template' })).length).toBe(1)
  })

  it('validates the parameters against the template inputs', async () => {
    const o = await math()
    o.registerTemplate('bump', {
      name: 'b',
      inputs: { n: { type: 'number', required: true } },
      tasks: [{ id: 't', agent: 'plus1', input: { $ref: 'input.n' } }],
    })
    await expect((async () => o.runTemplate('bump', {}))()).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { input: 'n' },
    })
  })

  it('refuses an invalid template at registration', async () => {
    const o = await math()
    expect(() =>
      o.registerTemplate('bad', { name: 'bad', tasks: [{ id: 'a', agent: 'echo', dependsOn: ['a'] }] }),
    ).toThrow(expect.objectContaining({ code: 'WORKFLOW_CYCLE' }))
    expect(o.templateNames()).toEqual([])
  })

  it('refuses another workflow under a taken template name unless replace is asked; the same workflow again is a no-op', async () => {
    const o = await math()
    const one = { name: 'k', tasks: [{ id: 'a', agent: 'echo', input: 1 }] }
    o.registerTemplate('known', one)
    o.registerTemplate('known', { ...one })
    const other = { name: 'k', tasks: [{ id: 'a', agent: 'echo', input: 2 }] }
    expect(() => o.registerTemplate('known', other)).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        details: { template: 'known' },
        message: expect.stringContaining('{ replace: true }'),
      }),
    )
    expect((await o.runTemplate('known', {})).output('a')).toBe(1)
    o.registerTemplate('known', other, { replace: true })
    expect((await o.runTemplate('known', {})).output('a')).toBe(2)
  })

  it('answers TEMPLATE_NOT_FOUND for an unknown template, listing the registered ones', async () => {
    const o = await math()
    o.registerTemplate('known', { name: 'k', tasks: [{ id: 'a', agent: 'echo' }] })
    const call = async (): Promise<unknown> => o.runTemplate('unknown', {})
    await expect(call()).rejects.toMatchObject({ code: 'TEMPLATE_NOT_FOUND', details: { template: 'unknown' } })
    await expect(call()).rejects.toThrow(/Registered: known/)
  })

  it('rejects the promise of runTemplate() (not a synchronous throw) for an unknown template', async () => {
    const o = await math()
    let promise: Promise<unknown> | undefined
    expect(() => {
      promise = o.runTemplate('unknown', {})
    }).not.toThrow()
    await expect(promise).rejects.toMatchObject({ code: 'TEMPLATE_NOT_FOUND' })
  })
})
