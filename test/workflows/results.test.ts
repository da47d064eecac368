import { describe, expect, it } from 'vitest'
import type { RunId } from '../../src/core/ids.js'
import { compileWorkflow } from '../../src/workflows/compile.js'
import { RunResult } from '../../src/workflows/results.js'
import { RunExecution, S } from '../../src/workflows/run-execution.js'

let seq = 0
const chain = compileWorkflow({
  name: 'chain',
  tasks: [
    { id: 'a', agent: 'worker' },
    { id: 'b', agent: 'worker', dependsOn: ['a'] },
    { id: 'c', agent: 'worker', dependsOn: ['b'] },
  ],
})

/** A run of `chain` whose clock started at `startMono` (process uptime, as `performance.now()`). */
function execution(startMono: number): RunExecution {
  const run = new RunExecution(`run_results_${++seq}` as RunId, chain, undefined, Infinity, {})
  run.startMono = startMono
  return run
}

/** Task `i` ran [from, from + ms) on `worker@1.0.0` and ended in `state`. */
function ran(run: RunExecution, i: number, from: number, ms: number, state: number): void {
  run.attempts[i]++
  run.agentOf[i] = 'worker@1.0.0'
  run.startedAt[i] = from
  run.durationMs[i] = ms
  run.busyMs += ms
  run.setState(i, state)
}

describe('RunResult summary after a run was stopped', () => {
  it('a RUNNING task whose start was never stored counts no attempt, no duration and no busy time (a store conflict)', () => {
    const uptime = 3_600_000
    const run = execution(uptime)
    ran(run, 0, uptime + 10, 40, S.SUCCEEDED)
    // b's start was staged, the batch was refused, the run stopped: its handler never ran,
    // and releasing it measured "now - 0", the process uptime.
    run.attempts[1] = 1
    run.agentOf[1] = 'worker@1.0.0'
    run.durationMs[1] = uptime + 60
    run.busyMs += uptime + 60
    run.setState(1, S.RUNNING)
    run.peakActive = 1
    run.endMono = uptime + 60
    run.state = 'FAILED'
    run.stopped = true
    const result = new RunResult(run)
    const s = result.summary
    expect(s.durationMs).toBe(60)
    expect(result.tasks.b).toMatchObject({ state: 'RUNNING', attempts: 0, durationMs: 0, agent: undefined })
    expect(s.busyMs).toBe(40)
    expect(s.busyMs).toBeLessThanOrEqual(s.durationMs * s.peakConcurrency)
    expect(s.perAgent['worker@1.0.0']).toMatchObject({ tasks: 1, succeeded: 1, busyMs: 40 })
    expect(s.criticalPath.durationMs).toBeLessThanOrEqual(s.durationMs)
    expect(s.counts).toEqual({ succeeded: 1, failed: 0, skipped: 0, cancelled: 0 })
    expect(s.unfinished).toBe(2)
    expect(s.successRate).toBeCloseTo(1 / 3)
    expect(s.rateOver).toBe(3)
    expect(s.speedup).toBeLessThanOrEqual(s.peakConcurrency)
  })

  it('a CANCELLED or FAILED run never has a success rate of 1', () => {
    const run = execution(500)
    ran(run, 0, 500, 10, S.SUCCEEDED)
    ran(run, 1, 510, 5, S.CANCELLED)
    run.setState(2, S.CANCELLED)
    run.peakActive = 1
    run.endMono = 520
    run.state = 'CANCELLED'
    const s = new RunResult(run).summary
    expect(s.successRate).toBe(0.5 / 1.5)
    expect(s.unfinished).toBe(0)
  })

  it('durations and the critical path are never longer than the run, busy time never above wall time × peak', () => {
    const run = execution(0)
    // Stale start times (an attempt interrupted between its start and its handler) give durations longer than the run.
    ran(run, 0, 0, 900, S.SUCCEEDED)
    ran(run, 1, 0, 900, S.SUCCEEDED)
    ran(run, 2, 0, 900, S.FAILED)
    run.peakActive = 1
    run.endMono = 300
    run.state = 'FAILED'
    const result = new RunResult(run)
    const s = result.summary
    for (const t of Object.values(result.tasks)) expect(t.durationMs).toBeLessThanOrEqual(300)
    expect(s.busyMs).toBeLessThanOrEqual(300)
    expect(s.criticalPath.durationMs).toBeLessThanOrEqual(300)
    expect(s.parallelEfficiency).toBeLessThanOrEqual(1)
    expect(s.successRate).toBeCloseTo(2 / 3)
  })

  it('a run that succeeded keeps its figures: rate over finished tasks, chain durations, efficiency', () => {
    const run = execution(100)
    ran(run, 0, 100, 10, S.SUCCEEDED)
    ran(run, 1, 110, 20, S.SUCCEEDED)
    ran(run, 2, 130, 30, S.SUCCEEDED)
    run.peakActive = 1
    run.endMono = 160
    run.state = 'SUCCEEDED'
    const s = new RunResult(run).summary
    expect(s).toMatchObject({
      successRate: 1,
      rateOver: 3,
      durationMs: 60,
      busyMs: 60,
      parallelEfficiency: 1,
      speedup: 1,
    })
    expect(s.criticalPath).toEqual({ tasks: ['a', 'b', 'c'], durationMs: 60 })
  })
})

describe('RunResult durations', () => {
  it('are whole milliseconds in the summary and the task records', () => {
    const run = new RunExecution(`run_results_${++seq}` as RunId, chain, undefined, Infinity, {})
    run.startMono = 10.25
    ran(run, 0, 10.5, 3.333, S.SUCCEEDED)
    ran(run, 1, 14, 4.6, S.SUCCEEDED)
    ran(run, 2, 19, 5.49, S.SUCCEEDED)
    run.peakActive = 1
    run.endMono = 25.1
    run.state = 'SUCCEEDED'
    const result = new RunResult(run)
    const s = result.summary
    expect(s.durationMs).toBe(15)
    expect(Object.values(result.tasks).map((t) => t.durationMs)).toEqual([3, 5, 5])
    expect(s.busyMs).toBe(13)
    expect(s.criticalPath.durationMs).toBe(13)
    expect(s.perAgent['worker@1.0.0'].busyMs).toBe(13)
  })
})

describe('RunResult critical path', () => {
  it('goes to the longest chain of tasks when durations tie (0 ms tasks)', () => {
    const run = new RunExecution(`run_results_${++seq}` as RunId, chain, undefined, Infinity, {})
    run.startMono = 1
    for (let i = 0; i < 3; i++) ran(run, i, 1, 0, S.SUCCEEDED)
    run.peakActive = 1
    run.endMono = 1
    run.state = 'SUCCEEDED'
    expect(new RunResult(run).summary.criticalPath).toEqual({ tasks: ['a', 'b', 'c'], durationMs: 0 })
  })
})
