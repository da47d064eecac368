import { describe, expect, it } from 'vitest'
import { collectRefs, compileTemplate, parseRef, refResolver, type ValueSource } from '../../src/workflows/refs.js'

const TASKS = ['scan', 'fix', 'report']
const indexOf = (id: string): number => {
  const i = TASKS.indexOf(id)
  if (i < 0) throw new Error(`unknown task ${id}`)
  return i
}
const source = (input: unknown, outputs: Record<string, unknown> = {}): ValueSource => ({
  input,
  output: (i) => outputs[TASKS[i]],
})

function error(fn: () => unknown): { code?: string; message?: string; details?: Record<string, unknown> } {
  try {
    fn()
  } catch (e) {
    return e as { code?: string }
  }
  throw new Error('expected a throw')
}

describe('parseRef', () => {
  it('parses input references', () => {
    expect(parseRef('input', 'w')).toEqual({ source: 'input', taskId: undefined, path: [] })
    expect(parseRef('input.target.dir', 'w')).toEqual({ source: 'input', taskId: undefined, path: ['target', 'dir'] })
  })

  it('parses task output references with and without a field path', () => {
    expect(parseRef('tasks.scan.output', 'w')).toEqual({ source: 'task', taskId: 'scan', path: [] })
    expect(parseRef('tasks.my-task_1.output.files.0', 'w')).toEqual({
      source: 'task',
      taskId: 'my-task_1',
      path: ['files', '0'],
    })
  })

  it.each([
    ['', 'empty or invalid segment'],
    ['input.', 'empty or invalid segment'],
    ['tasks..output', 'empty or invalid segment'],
    ['input.a b', 'empty or invalid segment'],
    ['input.a[0]', 'empty or invalid segment'],
    ['tasks.scan', 'must continue with ".output"'],
    ['tasks.scan.result', 'must continue with ".output"'],
    ['env.HOME', 'must start with "input" or "tasks"'],
    ['outputs.scan', 'must start with "input" or "tasks"'],
  ])('refuses %j with WORKFLOW_BAD_REFERENCE naming where it is', (text, why) => {
    const e = error(() => parseRef(text, 'task "fix" input.files'))
    expect(e.code).toBe('WORKFLOW_BAD_REFERENCE')
    expect(e.message).toContain('task "fix" input.files')
    expect(e.message).toContain(why)
    expect(e.message).toContain('tasks.<id>.output')
    expect(e.details).toEqual({ where: 'task "fix" input.files', ref: text })
  })
})

describe('collectRefs', () => {
  it('finds references at any depth, in arrays and objects', () => {
    const refs = collectRefs(
      {
        a: { $ref: 'input.x' },
        list: [1, [{ $ref: 'tasks.scan.output.files' }], 'lit'],
        deep: { deeper: { $ref: 'tasks.fix.output' } },
      },
      'w',
    )
    expect(refs).toEqual([
      { source: 'input', taskId: undefined, path: ['x'] },
      { source: 'task', taskId: 'scan', path: ['files'] },
      { source: 'task', taskId: 'fix', path: [] },
    ])
  })

  it('finds none in literals', () => {
    for (const literal of [undefined, null, 1, 'tasks.scan.output', [1, 2], { a: { b: 'c' } }, true])
      expect(collectRefs(literal, 'w')).toEqual([])
  })

  it('treats an object with $ref and other keys as a literal', () => {
    expect(collectRefs({ $ref: 'tasks.scan.output', note: 'not a ref' }, 'w')).toEqual([])
  })

  it('names the path of a malformed reference', () => {
    const e = error(() => collectRefs({ list: [0, { deep: { $ref: 'nope' } }] }, 'task "t" input'))
    expect(e.code).toBe('WORKFLOW_BAD_REFERENCE')
    expect(e.details?.where).toBe('task "t" input.list[1].deep')
    const notString = error(() => collectRefs({ x: { $ref: 42 } }, 'task "t" input'))
    expect(notString.code).toBe('WORKFLOW_BAD_REFERENCE')
    expect(notString.message).toContain('task "t" input.x')
    expect(notString.message).toContain('must be a string')
  })
})

describe('refResolver', () => {
  it('reads the input or a task output by path, undefined when a step is missing', () => {
    const r = refResolver(parseRef('tasks.fix.output.result.count', 'w'), indexOf)
    expect(r(source({}, { fix: { result: { count: 4 } } }))).toBe(4)
    expect(r(source({}, { fix: { result: null } }))).toBeUndefined()
    expect(r(source({}, { fix: 'a string' }))).toBeUndefined()
    expect(r(source({}, {}))).toBeUndefined()
    const one = refResolver(parseRef('input.n', 'w'), indexOf)
    expect(one(source({ n: 0 }))).toBe(0)
    expect(one(source(null))).toBeUndefined()
    expect(one(source(7))).toBeUndefined()
    const whole = refResolver(parseRef('tasks.scan.output', 'w'), indexOf)
    const out = { files: ['a'] }
    expect(whole(source({}, { scan: out }))).toBe(out)
  })

  it('indexes into arrays with numeric segments', () => {
    const r = refResolver(parseRef('tasks.scan.output.files.1.name', 'w'), indexOf)
    expect(r(source({}, { scan: { files: [{ name: 'a' }, { name: 'b' }] } }))).toBe('b')
  })
})

describe('compileTemplate', () => {
  it('returns the literal itself when there is no reference', () => {
    const literal = { a: [1, 2], b: { c: 'd' } }
    const resolve = compileTemplate(literal, 'w', indexOf)
    expect(resolve(source({}))).toBe(literal)
    expect(compileTemplate(undefined, 'w', indexOf)(source({}))).toBeUndefined()
  })

  it('replaces references and keeps literal parts, at any depth', () => {
    const resolve = compileTemplate(
      {
        dir: { $ref: 'input.dir' },
        files: { $ref: 'tasks.scan.output.files' },
        fixed: [{ $ref: 'tasks.fix.output' }, 'lit', { keep: { x: 1 } }],
        mode: 'dry',
        n: 3,
      },
      'w',
      indexOf,
    )
    expect(resolve(source({ dir: '/src' }, { scan: { files: ['a.ts'] }, fix: 2 }))).toEqual({
      dir: '/src',
      files: ['a.ts'],
      fixed: [2, 'lit', { keep: { x: 1 } }],
      mode: 'dry',
      n: 3,
    })
  })

  it('resolves a top-level reference to the value itself', () => {
    const resolve = compileTemplate({ $ref: 'tasks.scan.output' }, 'w', indexOf)
    const out = { big: true }
    expect(resolve(source({}, { scan: out }))).toBe(out)
  })

  it('builds a fresh container on each call, so runs do not share resolved inputs', () => {
    const resolve = compileTemplate({ list: [{ $ref: 'input.a' }] }, 'w', indexOf)
    const first = resolve(source({ a: 1 })) as { list: unknown[] }
    const second = resolve(source({ a: 2 })) as { list: unknown[] }
    expect(first).toEqual({ list: [1] })
    expect(second).toEqual({ list: [2] })
    expect(first).not.toBe(second)
    expect(first.list).not.toBe(second.list)
  })

  it('resolves a missing upstream output to undefined', () => {
    const resolve = compileTemplate({ x: { $ref: 'tasks.scan.output.v' } }, 'w', indexOf)
    expect(resolve(source({}, {}))).toEqual({ x: undefined })
  })

  it('refuses a malformed reference at compile time', () => {
    expect(error(() => compileTemplate({ a: [{ $ref: 'tasks.x' }] }, 'task "t" input', indexOf)).code).toBe(
      'WORKFLOW_BAD_REFERENCE',
    )
  })
})
