import { describe, expect, it } from 'vitest'
import { parseAge } from '../../src/cli/args.js'
import { formatTable, paint } from '../../src/cli/format.js'
import { LiveDisplay } from '../../src/cli/live-display.js'
import { mergeInput, parseSets } from '../../src/cli/replay-args.js'
import { storeArg } from '../../src/cli/runs-shared.js'
import { storeLabel } from '../../src/cli/store-option.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { asRunId, asTaskId } from '../../src/core/ids.js'
import type { RunRecord, TaskRecord } from '../../src/store/records.js'
import { compileWorkflow } from '../../src/workflows/compile.js'

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    if (isFlotillaError(e)) return `${e.code}: ${e.message}`
    throw e
  }
  throw new Error('expected an error')
}

const spec = {
  name: 'wf',
  tasks: [
    { id: 'scan', agent: 'scanner', input: { target: 'src', limits: { max: 3, min: 1 } } },
    {
      id: 'fix',
      agent: 'fixer',
      input: { apply: false, files: { $ref: 'tasks.scan.output' } },
      retry: { maxAttempts: 2 },
    },
  ],
}
const record: RunRecord = {
  id: asRunId('run_1'),
  workflow: 'wf',
  workflowHash: 'h',
  definition: spec,
  input: { target: 'src', deep: { a: 1, b: 2 } },
  state: 'SUCCEEDED',
  createdAt: 0,
  startedAt: 0,
  finishedAt: 1,
  error: undefined,
  parentRunId: undefined,
}

describe('parseSets', () => {
  it('merges a dotted path into the task spec, keeping the other keys', () => {
    expect(
      parseSets('runs replay', record, [
        'fix.input.apply=true',
        'fix.agent=other',
        'scan.input.limits.max=10',
        'fix.retry.maxAttempts=5',
      ]),
    ).toEqual({
      fix: { input: { apply: true, files: { $ref: 'tasks.scan.output' } }, agent: 'other', retry: { maxAttempts: 5 } },
      scan: { input: { target: 'src', limits: { max: 10, min: 1 } } },
    })
  })

  it('parses values as JSON when they are JSON, and replaces what is not an object on the way', () => {
    expect(
      parseSets('runs replay', record, [
        'fix.timeoutMs=5000',
        'fix.input.files.x=1',
        'scan.input.target="7"',
        'scan.input.limits={"max":1}',
      ]),
    ).toEqual({
      fix: { timeoutMs: 5000, input: { apply: false, files: { x: 1 } } },
      scan: { input: { target: '7', limits: { max: 1 } } },
    })
  })

  it('rejects malformed pairs with CLI_USAGE and unknown tasks with VALIDATION_FAILED', () => {
    for (const bad of ['fix', 'fix=1', '=1', 'fix..input=1', 'fix.id=x', 'fix.input.__proto__=1', 'constructor.x=1']) {
      expect(
        codeOf(() => parseSets('runs replay', record, [bad])),
        bad,
      ).toMatch(/^CLI_USAGE: --set/)
    }
    expect(codeOf(() => parseSets('runs replay', record, ['ghost.input.x=1']))).toBe(
      'VALIDATION_FAILED: Replay of run run_1: --set names task "ghost", which workflow "wf" does not have. Tasks: scan, fix.',
    )
  })

  it('does not change the stored definition', () => {
    parseSets('runs replay', record, ['scan.input.limits.max=99'])
    expect(spec.tasks[0].input).toEqual({ target: 'src', limits: { max: 3, min: 1 } })
  })
})

describe('mergeInput', () => {
  it('merges objects key by key and replaces anything else', () => {
    expect(mergeInput(record.input, { deep: { b: 3 }, apply: true })).toEqual({
      target: 'src',
      deep: { a: 1, b: 3 },
      apply: true,
    })
    expect(mergeInput(undefined, { a: 1 })).toEqual({ a: 1 })
    expect(mergeInput({ a: [1] }, { a: { x: 1 } })).toEqual({ a: { x: 1 } })
  })
})

describe('parseAge', () => {
  it('reads s, m, h, d and w', () => {
    expect(parseAge('runs prune', '--older-than', '90s')).toBe(90_000)
    expect(parseAge('runs prune', '--older-than', '15m')).toBe(900_000)
    expect(parseAge('runs prune', '--older-than', '12h')).toBe(43_200_000)
    expect(parseAge('runs prune', '--older-than', '30d')).toBe(2_592_000_000)
    expect(parseAge('runs prune', '--older-than', '2w')).toBe(1_209_600_000)
    expect(parseAge('runs prune', '--older-than', '0s')).toBe(0)
  })

  it('rejects anything else with CLI_USAGE', () => {
    for (const bad of ['3x', '30', 'd', '-1d', '1.5h', '', '10 days'])
      expect(
        codeOf(() => parseAge('runs prune', '--older-than', bad)),
        bad,
      ).toMatch(/^CLI_USAGE: --older-than expects an age/)
  })
})

describe('store names', () => {
  it('shows a path relative to the working folder, and hides passwords', () => {
    expect(storeLabel('sqlite:.flotilla/flotilla.db', '/home/u/p')).toBe('.flotilla/flotilla.db')
    expect(storeLabel('/tmp/x/runs.db', '/home/u/p')).toBe('/tmp/x/runs.db')
    expect(storeLabel('memory')).toBe('memory')
    expect(storeLabel('postgres://app:secret@db:5432/flotilla?schema=s')).toBe(
      'postgres://app:***@db:5432/flotilla?schema=s',
    )
    expect(codeOf(() => storeLabel('bogus://x'))).toMatch(/^STORE_URL_INVALID/)
    expect(storeArg(undefined)).toBe('')
    expect(storeArg('runs.db')).toBe(' --store runs.db')
    expect(storeArg('postgres://app:secret@db/f')).toBe(' --store postgres://app:***@db/f')
  })
})

describe('formatTable', () => {
  it('aligns columns by visible width', () => {
    const green = (text: string): string => `\u001b[32m${text}\u001b[39m`
    expect(
      formatTable(
        ['ID', 'STATE', 'N'],
        [
          ['run_1', green('OK'), '1'],
          ['r', 'FAILED', '10'],
        ],
        '  ',
      ).replaceAll(green('OK'), 'OK'),
    ).toBe('  ID     STATE   N\n  run_1  OK      1\n  r      FAILED  10\n')
  })
})

describe('LiveDisplay of a recovered run', () => {
  it('starts from the stored tasks: finished ones keep their outcome, interrupted ones wait', () => {
    const runId = asRunId('run_r')
    const wf = compileWorkflow({
      name: 'rec',
      tasks: [
        { id: 'a', agent: 'w' },
        { id: 'b', agent: 'w', dependsOn: ['a'] },
        { id: 'c', agent: 'w', dependsOn: ['b'] },
      ],
    })
    const task = (id: string, state: TaskRecord['state'], attempt: number): TaskRecord => ({
      runId,
      taskId: asTaskId(id),
      state,
      attempt,
      agent: attempt > 0 ? 'w@1.0.0' : undefined,
      priority: 'MEDIUM',
      idempotencyKey: `run_r:${id}`,
      startedAt: attempt > 0 ? 1_000 : undefined,
      finishedAt: state === 'SUCCEEDED' ? 1_250 : undefined,
      output: undefined,
      error: undefined,
    })
    const out = {
      columns: 120,
      text: '',
      write(s: string) {
        this.text += s
      },
    }
    const display = new LiveDisplay(out, wf, runId, paint(false), {
      now: () => 2_000,
      initial: [task('a', 'SUCCEEDED', 1), task('b', 'RUNNING', 1), task('c', 'PENDING', 0)],
    })
    const lines = display.lines()
    expect(lines[1]).toMatch(/✓ a +w@1\.0\.0 +1 try +250 ms/)
    expect(lines[2]).toMatch(/○ b +w@1\.0\.0 +1 try .*waiting/)
    expect(lines[3]).toMatch(/○ c +w +waiting/)
    expect(lines[4]).toContain('1/3 done')
  })
})
