import { describe, expect, it } from 'vitest'
import { parseCondition } from '../../src/workflows/condition.js'
import type { ValueSource } from '../../src/workflows/refs.js'

const TASKS = ['scan', 'count', 'fix']

/** Evaluates `text` against an input and task outputs keyed by task id. */
function evaluate(text: string, input: unknown, outputs: Record<string, unknown> = {}): boolean {
  const c = parseCondition(text, 'task "t" when')
  const f = c.compile((id) => TASKS.indexOf(id))
  const source: ValueSource = { input, output: (i) => outputs[TASKS[i]] }
  return f(source)
}

function codeOf(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return (e as { code?: unknown }).code
  }
  return 'no error'
}

describe('parseCondition', () => {
  it('collects the references it reads', () => {
    const c = parseCondition('tasks.scan.output.count > 0 && (input.apply || !tasks.fix.output)', 'w')
    expect(c.refs).toEqual([
      { source: 'task', taskId: 'scan', path: ['count'] },
      { source: 'input', taskId: undefined, path: ['apply'] },
      { source: 'task', taskId: 'fix', path: [] },
    ])
  })

  it('tests a bare reference for truthiness', () => {
    expect(evaluate('input.apply', { apply: true })).toBe(true)
    expect(evaluate('input.apply', { apply: 'yes' })).toBe(true)
    expect(evaluate('input.apply', { apply: 0 })).toBe(false)
    expect(evaluate('input.apply', { apply: '' })).toBe(false)
    expect(evaluate('input.apply', {})).toBe(false)
    expect(evaluate('input.apply', undefined)).toBe(false)
    expect(evaluate('tasks.scan.output', {}, { scan: { any: 1 } })).toBe(true)
    expect(evaluate('tasks.scan.output', {}, {})).toBe(false)
  })

  it('compares numbers', () => {
    const out = { scan: { count: 3 } }
    expect(evaluate('tasks.scan.output.count > 0', {}, out)).toBe(true)
    expect(evaluate('tasks.scan.output.count > 3', {}, out)).toBe(false)
    expect(evaluate('tasks.scan.output.count >= 3', {}, out)).toBe(true)
    expect(evaluate('tasks.scan.output.count < 3.5', {}, out)).toBe(true)
    expect(evaluate('tasks.scan.output.count <= 2.99', {}, out)).toBe(false)
    expect(evaluate('tasks.scan.output.count == 3', {}, out)).toBe(true)
    expect(evaluate('tasks.scan.output.count != 3', {}, out)).toBe(false)
    expect(evaluate('2 < tasks.scan.output.count', {}, out)).toBe(true)
  })

  it('treats a missing value as undefined: ordered comparisons are false', () => {
    expect(evaluate('tasks.scan.output.count > 0', {}, {})).toBe(false)
    expect(evaluate('tasks.scan.output.count <= 0', {}, {})).toBe(false)
    expect(evaluate('tasks.scan.output.count == null', {}, { scan: { count: null } })).toBe(true)
    expect(evaluate('tasks.scan.output.a.b.c > 0', {}, { scan: { a: null } })).toBe(false)
  })

  it('compares strings, booleans and null with strict equality', () => {
    expect(evaluate("input.mode == 'fast'", { mode: 'fast' })).toBe(true)
    expect(evaluate('input.mode == "fast"', { mode: 'slow' })).toBe(false)
    expect(evaluate("input.mode != 'fast'", { mode: 'slow' })).toBe(true)
    expect(evaluate("input.s == 'it\\'s'", { s: "it's" })).toBe(true)
    expect(evaluate('input.s == "say \\"hi\\""', { s: 'say "hi"' })).toBe(true)
    expect(evaluate('input.n == 1', { n: '1' })).toBe(false)
    expect(evaluate('input.flag == true', { flag: true })).toBe(true)
    expect(evaluate('input.flag == false', { flag: 0 })).toBe(false)
    expect(evaluate('input.x == null', { x: null })).toBe(true)
    expect(evaluate('input.x == null', {})).toBe(false)
  })

  it('combines with && || ! and parentheses, && binding tighter than ||', () => {
    expect(evaluate('input.a && input.b', { a: 1, b: 1 })).toBe(true)
    expect(evaluate('input.a && input.b', { a: 1, b: 0 })).toBe(false)
    expect(evaluate('input.a || input.b', { a: 0, b: 1 })).toBe(true)
    expect(evaluate('!input.a', { a: 0 })).toBe(true)
    expect(evaluate('!!input.a', { a: 'x' })).toBe(true)
    // true || (false && false) = true; (true || false) && false = false
    expect(evaluate('input.t || input.f && input.f', { t: true, f: false })).toBe(true)
    expect(evaluate('(input.t || input.f) && input.f', { t: true, f: false })).toBe(false)
    expect(evaluate('!(input.a > 1) && (input.b == "x" || false)', { a: 0, b: 'x' })).toBe(true)
  })

  it('accepts literals alone and surrounding whitespace', () => {
    expect(evaluate('true', {})).toBe(true)
    expect(evaluate('false', {})).toBe(false)
    expect(evaluate('null', {})).toBe(false)
    expect(evaluate('  input.a   ==   1  ', { a: 1 })).toBe(true)
    expect(evaluate('input.a==1&&input.b!=2', { a: 1, b: 3 })).toBe(true)
  })

  it('reads task ids with dashes and underscores', () => {
    const c = parseCondition('tasks.my-task_2.output.ok', 'w')
    expect(c.refs).toEqual([{ source: 'task', taskId: 'my-task_2', path: ['ok'] }])
  })

  it.each([
    ['', 'is empty'],
    ['   ', 'is empty'],
    ['input.x >', 'ends too early'],
    ['(input.a', 'is missing a ")"'],
    ['input.a input.b', 'left over'],
    ['input.a # 1', 'unexpected character at position 9'],
    ['input.a = 1', 'unexpected character'],
    ['&& input.a', 'where a value was expected'],
    [')', 'where a value was expected'],
    ['env.HOME', 'must start with "input" or "tasks"'],
    ['tasks.scan.count', 'must continue with ".output"'],
  ])('refuses %j with WORKFLOW_BAD_REFERENCE (%s)', (text, why) => {
    let err: { code?: string; message?: string; details?: Record<string, unknown> } = {}
    try {
      parseCondition(text, 'task "t" when')
    } catch (e) {
      err = e as typeof err
    }
    expect(err.code).toBe('WORKFLOW_BAD_REFERENCE')
    expect(err.message).toContain('task "t" when')
    expect(err.message).toContain(why)
  })

  it('is compiled once and evaluated many times against different values', () => {
    const c = parseCondition('tasks.count.output > input.min', 'w')
    const f = c.compile((id) => TASKS.indexOf(id))
    expect(f({ input: { min: 1 }, output: (i) => (i === 1 ? 2 : undefined) })).toBe(true)
    expect(f({ input: { min: 5 }, output: (i) => (i === 1 ? 2 : undefined) })).toBe(false)
    expect(codeOf(() => parseCondition('input.a >= ', 'w'))).toBe('WORKFLOW_BAD_REFERENCE')
  })
})
