import { describe, expect, expectTypeOf, it } from 'vitest'
import { inputRef, ref, workflow, type WorkflowBuilder } from '../../src/workflows/builder.js'
import type { Workflow } from '../../src/workflows/compile.js'
import type { RefSpec, WorkflowSpec } from '../../src/workflows/spec.js'

describe('ref and inputRef', () => {
  it('make $ref objects for task outputs and run inputs', () => {
    expect(ref('scan')).toEqual({ $ref: 'tasks.scan.output' })
    expect(ref('scan', 'problems')).toEqual({ $ref: 'tasks.scan.output.problems' })
    expect(ref('scan', 'a.b')).toEqual({ $ref: 'tasks.scan.output.a.b' })
    expect(inputRef()).toEqual({ $ref: 'input' })
    expect(inputRef('target')).toEqual({ $ref: 'input.target' })
    expectTypeOf(ref('x')).toEqualTypeOf<RefSpec>()
    expectTypeOf(inputRef('x')).toEqualTypeOf<RefSpec>()
  })
})

describe('WorkflowBuilder', () => {
  it('builds a compiled workflow where refs add dependencies', () => {
    const wf = workflow('hello')
      .describe('greets')
      .input('name', { type: 'string', default: 'Ada' })
      .concurrency(2)
      .defaults({ priority: 'LOW' })
      .task('greet', { agent: 'greeter', input: { name: inputRef('name') } })
      .task('shout', { agent: 'upper', input: { text: ref('greet', 'text') } })
      .task('log', { capability: 'logging', dependsOn: ['greet'], priority: 'HIGH', continueOnFailure: true })
      .build()
    expectTypeOf(wf).toEqualTypeOf<Workflow<{ greet: unknown; shout: unknown; log: unknown }>>()
    expectTypeOf(wf).toExtend<Workflow>()
    expect(wf.name).toBe('hello')
    expect(wf.concurrency).toBe(2)
    expect(wf.spec.description).toBe('greets')
    expect(wf.spec.inputs).toEqual({ name: { type: 'string', default: 'Ada' } })
    expect([...wf.tasks[1].deps]).toEqual([0])
    expect([...wf.tasks[2].deps]).toEqual([0])
    expect(wf.tasks.map((t) => t.priority)).toEqual(['LOW', 'LOW', 'HIGH'])
    expect(wf.tasks[2].continueOnFailure).toBe(true)
  })

  it('types dependsOn to the ids declared before', () => {
    const b = workflow('typed')
      .task('a', { agent: 'x' })
      .task('b', { agent: 'x', dependsOn: ['a'] })
    expectTypeOf(b).toEqualTypeOf<WorkflowBuilder<'a' | 'b', { a: unknown; b: unknown }>>()
    expectTypeOf(workflow('empty')).toEqualTypeOf<WorkflowBuilder<never>>()
    b.task('c', {
      agent: 'x',
      // @ts-expect-error "z" was never declared
      dependsOn: ['a', 'z'],
    })
    workflow('first').task('a', {
      agent: 'x',
      // @ts-expect-error no task is declared before the first one
      dependsOn: ['a'],
    })
    // At run time the compile step still refuses the unknown id.
    expect(() =>
      workflow('rt')
        .task('a', { agent: 'x' })
        .task('b', { agent: 'x', dependsOn: ['nope' as 'a'] })
        .build(),
    ).toThrow(expect.objectContaining({ code: 'WORKFLOW_UNKNOWN_DEPENDENCY' }))
  })

  it('produces a JSON-safe spec without undefined fields', () => {
    const spec = workflow('json')
      .input('dir', { type: 'string' })
      .task('a', {
        agent: 'x',
        input: { dir: inputRef('dir') },
        timeoutMs: 50,
        retry: { maxAttempts: 2 },
        description: undefined,
        when: undefined,
      })
      .task('b', {
        capability: 'y',
        dependsOn: ['a'],
        input: [ref('a'), 1, 'two', null],
        when: 'tasks.a.output.ok',
        fallback: 'z',
      })
      .toSpec()
    expectTypeOf(spec).toEqualTypeOf<WorkflowSpec>()
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec)
    const hasUndefined = (v: unknown): boolean =>
      v === undefined || (typeof v === 'object' && v !== null && Object.values(v).some(hasUndefined))
    expect(hasUndefined(spec)).toBe(false)
    expect(Object.keys(spec.tasks[0]).sort()).toEqual(['agent', 'id', 'input', 'retry', 'timeoutMs'])
    expect(spec).toEqual({
      name: 'json',
      inputs: { dir: { type: 'string' } },
      tasks: [
        { id: 'a', agent: 'x', input: { dir: { $ref: 'input.dir' } }, timeoutMs: 50, retry: { maxAttempts: 2 } },
        {
          id: 'b',
          capability: 'y',
          dependsOn: ['a'],
          input: [{ $ref: 'tasks.a.output' }, 1, 'two', null],
          when: 'tasks.a.output.ok',
          fallback: 'z',
        },
      ],
    })
  })

  it('copies the dependsOn list it is given', () => {
    const deps: 'a'[] = ['a']
    const b = workflow('copy').task('a', { agent: 'x' }).task('b', { agent: 'x', dependsOn: deps })
    deps.push('a')
    expect(b.toSpec().tasks[1].dependsOn).toEqual(['a'])
  })

  it('compiles toSpec() output to the same workflow as build()', () => {
    const b = workflow('same')
      .task('a', { agent: 'x' })
      .task('b', { agent: 'y', input: ref('a') })
    expect(b.build().hash).toBe(b.build().hash)
    expect(b.build().spec).toEqual(b.toSpec())
  })

  it('reports problems at build time with typed codes', () => {
    expect(() => workflow('dup').task('a', { agent: 'x' }).task('a', { agent: 'y' }).build()).toThrow(
      expect.objectContaining({ code: 'WORKFLOW_DUPLICATE_TASK' }),
    )
    expect(() => workflow('both').task('a', { agent: 'x', capability: 'y' }).build()).toThrow(
      expect.objectContaining({ code: 'WORKFLOW_INVALID' }),
    )
    expect(() => workflow('none').build()).toThrow(expect.objectContaining({ code: 'WORKFLOW_INVALID' }))
    expect(() =>
      workflow('dangling')
        .task('a', { agent: 'x', input: ref('ghost') })
        .build(),
    ).toThrow(expect.objectContaining({ code: 'WORKFLOW_UNKNOWN_DEPENDENCY' }))
  })
})

describe('WorkflowBuilder outputs', () => {
  it('declares the answer tasks, typed to the ids declared before', () => {
    const wf = workflow('answers')
      .task('a', { agent: 'x' })
      .task('b', { agent: 'x', dependsOn: ['a'] })
      .outputs('a')
      .build()
    expect(wf.spec.outputs).toEqual(['a'])
    expect([...wf.finals]).toEqual([0])
    // @ts-expect-error "z" was never declared
    workflow('bad').task('a', { agent: 'x' }).outputs('z')
  })
})
