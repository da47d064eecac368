import { describe, expect, it } from 'vitest'
import { isFlotillaError } from '../../src/core/errors.js'
import { compileWorkflow, validateWorkflowSpec, type WorkflowProblem } from '../../src/workflows/compile.js'
import { closestName } from '../../src/workflows/spec.js'
import type { WorkflowSpec } from '../../src/workflows/spec.js'

const spec = (value: unknown): WorkflowSpec => value as WorkflowSpec
const codes = (problems: readonly WorkflowProblem[]): string[] => problems.map((p) => p.code)

describe('validateWorkflowSpec', () => {
  it('finds every schema, reference, cycle and condition problem at once', () => {
    const problems = validateWorkflowSpec({
      name: 'many',
      tasks: [
        { id: 'a', agent: 'x', dependOn: ['b'] },
        { id: 'b', agent: 'x', dependsOn: ['c'] },
        { id: 'c', agent: 'x', dependsOn: ['b'] },
        { id: 'd', agent: 'x', input: { v: { $ref: 'tasks.ghost.output' }, w: { $ref: 'nowhere.x' } } },
        { id: 'e', agent: 'x', when: 'tasks.a.output >' },
        { id: 'f', agent: 'x', dependsOn: ['f'] },
        { id: 'a', agent: 'x' },
        { id: 'g', agent: 'x', version: 'not a range' },
        { id: 'h', agent: 'x', timeoutMs: -1 },
      ],
    })
    expect(codes(problems).sort()).toEqual([
      'WORKFLOW_BAD_REFERENCE', // d input.w
      'WORKFLOW_BAD_REFERENCE', // e when
      'WORKFLOW_CYCLE', // b ↔ c
      'WORKFLOW_CYCLE', // f → f
      'WORKFLOW_DUPLICATE_TASK', // a twice
      'WORKFLOW_INVALID', // dependOn
      'WORKFLOW_INVALID', // timeoutMs
      'WORKFLOW_INVALID', // version range
      'WORKFLOW_UNKNOWN_DEPENDENCY', // ghost
    ])
    expect(problems.find((p) => p.message.includes('dependOn'))!.message).toContain('did you mean "dependsOn"?')
    expect(problems.find((p) => p.code === 'WORKFLOW_CYCLE' && p.message.includes('b → c'))).toBeDefined()
    expect(problems.find((p) => p.code === 'WORKFLOW_UNKNOWN_DEPENDENCY')!.where).toBe('task "d" input')
  })

  it('is empty for a workflow that compiles', () => {
    expect(
      validateWorkflowSpec({
        name: 'ok',
        tasks: [
          { id: 'a', agent: 'x' },
          { id: 'b', agent: 'x', input: { $ref: 'tasks.a.output' } },
        ],
      }),
    ).toEqual([])
  })

  it('hints at near-miss keys at every level, and at names other tools use', () => {
    const hint = (value: unknown): string =>
      validateWorkflowSpec(value)
        .map((p) => p.message)
        .join('\n')
    expect(hint({ name: 'x', task: [{ id: 'a', agent: 'x' }] })).toContain('did you mean "tasks"?')
    expect(hint({ name: 'x', tasks: [{ id: 'a', agent: 'x', depends_on: [] }] })).toContain('did you mean "dependsOn"?')
    expect(hint({ name: 'x', tasks: [{ id: 'a', agent: 'x', needs: [] }] })).toContain('did you mean "dependsOn"?')
    expect(hint({ name: 'x', tasks: [{ id: 'a', agent: 'x', retry: { maxAttempt: 3 } }] })).toContain(
      'did you mean "maxAttempts"?',
    )
    expect(hint({ name: 'x', tasks: [{ id: 'a', agent: 'x', timeout: 5 }] })).toContain('did you mean "timeoutMs"?')
    expect(
      hint({
        name: 'x',
        tasks: [
          { id: 'p', pattern: 'map-reduce', items: [1], map: { agent: 'm' }, reduce: { agent: 'r' }, concurency: 2 },
        ],
      }),
    ).toContain('did you mean "concurrency"?')
  })

  it('suggests the closest task id for an unknown dependency, and does not flag ids of unreadable patterns', () => {
    const problems = validateWorkflowSpec({
      name: 'x',
      tasks: [
        { id: 'scan', agent: 'x' },
        { id: 'fix', agent: 'x', dependsOn: ['scna', 'broken'] },
        { id: 'broken', pattern: 'pipeline', stages: [] },
      ],
    })
    expect(codes(problems)).toEqual(['WORKFLOW_INVALID', 'WORKFLOW_UNKNOWN_DEPENDENCY'])
    expect(problems[1].message).toContain('Did you mean "scan"?')
  })
})

describe('compileWorkflow', () => {
  it('still throws the first problem, with all of them in details.problems', () => {
    try {
      compileWorkflow(
        spec({
          name: 'two',
          tasks: [
            { id: 'a', agent: 'x', dependsOn: ['zz'] },
            { id: 'b', agent: 'x', dependsOn: ['b'] },
          ],
        }),
      )
      expect.unreachable()
    } catch (e) {
      expect(isFlotillaError(e) && e.code).toBe('WORKFLOW_UNKNOWN_DEPENDENCY')
      const problems = (e as { details: { problems: WorkflowProblem[] } }).details.problems
      expect(codes(problems)).toEqual(['WORKFLOW_UNKNOWN_DEPENDENCY', 'WORKFLOW_CYCLE'])
    }
  })

  it('says "did you mean" in its schema error', () => {
    expect(() => compileWorkflow(spec({ name: 'x', tasks: [{ id: 'a', agent: 'x', dependson: [] }] }))).toThrow(
      /did you mean "dependsOn"\?/,
    )
  })
})

describe('closestName', () => {
  it('accepts near misses only', () => {
    expect(closestName('dependson', ['dependsOn', 'agent'])).toBe('dependsOn')
    expect(closestName('agnet', ['dependsOn', 'agent'])).toBe('agent')
    expect(closestName('banana', ['dependsOn', 'agent'])).toBeUndefined()
  })
})

describe('outputs', () => {
  it('names the tasks whose outputs are the answer; an unknown id is reported like a dependency', () => {
    const wf = compileWorkflow({
      name: 'o',
      tasks: [
        { id: 'a', agent: 'x' },
        { id: 'b', agent: 'x', dependsOn: ['a'] },
      ],
      outputs: ['a'],
    })
    expect([...wf.finals]).toEqual([0])
    expect([
      ...compileWorkflow({
        name: 'o',
        tasks: [
          { id: 'a', agent: 'x' },
          { id: 'b', agent: 'x', dependsOn: ['a'] },
        ],
      }).finals,
    ]).toEqual([1])
    expect(() => compileWorkflow({ name: 'o', tasks: [{ id: 'a', agent: 'x' }], outputs: ['aa'] })).toThrow(
      /outputs names task "aa", which does not exist\. Did you mean "a"\?/,
    )
    expect(codes(validateWorkflowSpec({ name: 'o', tasks: [{ id: 'a', agent: 'x' }], outputs: ['zz'] }))).toEqual([
      'WORKFLOW_UNKNOWN_DEPENDENCY',
    ])
  })
})
