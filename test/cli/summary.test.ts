import { describe, expect, it } from 'vitest'
import type { RunId } from '../../src/core/ids.js'
import { paint } from '../../src/cli/format.js'
import { formatOutputs, storedFinalOutputs } from '../../src/cli/outputs.js'
import { formatSummary } from '../../src/cli/summary.js'
import type { TaskRecord } from '../../src/store/records.js'
import { compileWorkflow } from '../../src/workflows/compile.js'
import { RunResult } from '../../src/workflows/results.js'
import { RunExecution, S } from '../../src/workflows/run-execution.js'
import type { WorkflowSpec } from '../../src/workflows/spec.js'

const p = paint(false)
let seq = 0
const spec: WorkflowSpec = {
  name: 'chain',
  tasks: [
    { id: 'a', agent: 'worker' },
    { id: 'b', agent: 'worker', dependsOn: ['a'] },
    { id: 'c', agent: 'worker', dependsOn: ['b'] },
  ],
}
const chain = compileWorkflow(spec)

/** A chain run where `states[i]` is task i's final state; task i ran 10 ms of a 100 ms run. */
function chainRun(states: number[], outputs: unknown[], runState: RunExecution['state']): RunResult {
  const run = new RunExecution(`run_summary_${++seq}` as RunId, chain, undefined, Infinity, {})
  run.startMono = 1000
  states.forEach((s, i) => {
    if (s === S.PENDING) return
    run.attempts[i] = 1
    run.agentOf[i] = 'worker@1.0.0'
    run.startedAt[i] = 1000 + 30 * i
    run.durationMs[i] = 10
    run.outputs[i] = outputs[i]
    run.setState(i, s)
  })
  run.peakActive = 1
  run.endMono = 1100
  run.state = runState
  return new RunResult(run)
}

describe('formatSummary', () => {
  it('words a chain as one task at a time, never as a speedup below 1 or an efficiency', () => {
    const text = formatSummary(chainRun([S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED], [1, 2, 'done'], 'SUCCEEDED'), p)
    expect(text).toContain('parallelism    one task at a time')
    expect(text).not.toMatch(/speedup|efficiency|0\.3×/)
    expect(text).toContain('success rate 100% of 3 finished tasks')
  })

  it('shows the final output (of the task nothing depends on), not the intermediate ones', () => {
    const text = formatSummary(
      chainRun([S.SUCCEEDED, S.SUCCEEDED, S.SUCCEEDED], [{ x: 1 }, { y: 2 }, { answer: 42 }], 'SUCCEEDED'),
      p,
    )
    expect(text).toContain('  output\n    c: {"answer":42}\n')
    expect(text).not.toContain('"x"')
  })

  it('shows the outputs the workflow declares in "outputs" instead, when it does', () => {
    const declared = compileWorkflow({ ...spec, outputs: ['a', 'b'] })
    const run = new RunExecution(`run_summary_${++seq}` as RunId, declared, undefined, Infinity, {})
    ;[{ first: 1 }, { second: 2 }, { third: 3 }].forEach((o, i) => {
      run.outputs[i] = o
      run.setState(i, S.SUCCEEDED)
    })
    run.state = 'SUCCEEDED'
    const text = formatSummary(new RunResult(run), p)
    expect(text).toContain('  outputs\n    a: {"first":1}\n    b: {"second":2}\n')
    expect(text).not.toContain('third')
    expect(
      storedFinalOutputs({ ...spec, outputs: ['b'] }, [{ taskId: 'b', state: 'SUCCEEDED', output: 2 } as TaskRecord]),
    ).toEqual([['b', 2]])
  })

  it('never says "success rate 100%" for a run stopped with unfinished tasks, and says what the rate is over', () => {
    const text = formatSummary(chainRun([S.SUCCEEDED, S.RUNNING, S.PENDING], [1], 'FAILED'), p)
    expect(text).not.toContain('success rate 100%')
    expect(text).toContain('2 unfinished')
    expect(text).toContain('success rate 33.3% of 3 tasks (the 2 unfinished count as not succeeded)')
  })
})

describe('formatOutputs', () => {
  it('cuts a long output to a few lines with a hint to --json', () => {
    const text = formatOutputs([['report', Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n')]], p, {
      maxLines: 3,
    })
    expect(text).toBe(
      '  output\n    report:\n      line 0\n      line 1\n      line 2\n      … 47 more lines\n    (cut short: --json prints every output in full)\n',
    )
  })

  it('shows a large object as indented JSON', () => {
    const big = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`key${i}`, i]))
    const text = formatOutputs([['all', big]], p, { maxLines: 4 })
    expect(text).toBe(
      '  output\n    all:\n      {\n        "key0": 0,\n        "key1": 1,\n        "key2": 2,\n      … 28 more lines\n    (cut short: --json prints every output in full)\n',
    )
  })

  it('shows a short text output on one line, cuts long lines, and names the hint command', () => {
    expect(formatOutputs([['greet', 'Hello, Ada']], p)).toBe('  output\n    greet: Hello, Ada\n')
    const long = formatOutputs([['big', 'x'.repeat(500)]], p, { width: 80, hint: 'flotilla runs show run_1 --json' })
    expect(long.split('\n')[1].length).toBeLessThanOrEqual(80)
    expect(long).toContain('flotilla runs show run_1 --json prints every output in full')
  })

  it('picks the final outputs of a stored run from its definition', () => {
    const record = (taskId: string, output: unknown): TaskRecord =>
      ({ taskId, state: 'SUCCEEDED', output }) as TaskRecord
    expect(storedFinalOutputs(spec, [record('a', 1), record('b', 2), record('c', 3)])).toEqual([['c', 3]])
    expect(storedFinalOutputs({ bogus: true }, [record('a', 1)])).toEqual([['a', 1]])
  })
})

describe('formatSummary agents', () => {
  it('keeps the version of a long agent name readable (cut in the middle)', () => {
    const wf = compileWorkflow({ name: 'long', tasks: [{ id: 'a', agent: 'a-rather-long-agent-name' }] })
    const run = new RunExecution(`run_summary_${++seq}` as RunId, wf, undefined, Infinity, {})
    run.attempts[0] = 1
    run.agentOf[0] = 'a-rather-long-agent-name@1.0.0'
    run.setState(0, S.SUCCEEDED)
    run.state = 'SUCCEEDED'
    expect(formatSummary(new RunResult(run), p)).toMatch(/ {4}a-rather-lo…name@1\.0\.0 /)
  })
})
