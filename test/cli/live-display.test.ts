import { describe, expect, it } from 'vitest'
import { LiveDisplay } from '../../src/cli/live-display.js'
import { middleCell, paint, visibleLength } from '../../src/cli/format.js'
import { LiveGroup } from '../../src/cli/live-group.js'
import { asAgentId, asRunId, asTaskId } from '../../src/core/ids.js'
import type { RunEvent } from '../../src/core/events.js'
import { compileWorkflow } from '../../src/workflows/compile.js'

const ESC = String.fromCharCode(27)
const stripAnsi = (text: string): string => text.replace(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), '')
const runId = asRunId('run_test')
const instanceId = asAgentId('agent_1')

function terminal(columns = 120): { columns: number; text: string; write(s: string): void } {
  return {
    columns,
    text: '',
    write(s: string) {
      this.text += s
    },
  }
}

function workflowOf(n: number) {
  return compileWorkflow({
    name: 'wide',
    tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, agent: 'worker' })),
  })
}

describe('LiveDisplay', () => {
  it('shows each task with its state, agent, attempts and duration, and a progress bar', () => {
    let now = 1_000
    const display = new LiveDisplay(terminal(), workflowOf(3), runId, paint(false), { now: () => now })
    const events: RunEvent[] = [
      { type: 'task.started', at: 1_000, runId, taskId: asTaskId('t0'), attempt: 1, agent: 'worker@1.0.0', instanceId },
      { type: 'task.succeeded', at: 1_004, runId, taskId: asTaskId('t0'), attempt: 1, durationMs: 4 },
      { type: 'task.started', at: 1_005, runId, taskId: asTaskId('t1'), attempt: 2, agent: 'worker@1.0.0', instanceId },
      { type: 'task.progress', at: 1_006, runId, taskId: asTaskId('t1'), attempt: 2, fraction: 0.5, note: 'halfway' },
      {
        type: 'run.progress',
        at: 1_006,
        runId,
        progress: {
          total: 3,
          done: 1,
          percent: 33.3,
          counts: { PENDING: 1, READY: 0, RUNNING: 1, RETRYING: 0, SUCCEEDED: 1, FAILED: 0, SKIPPED: 0, CANCELLED: 0 },
          elapsedMs: 6,
          etaMs: 1500,
        },
      },
    ]
    for (const e of events) display.onEvent(e)
    now = 1_020
    const lines = display.lines()
    expect(lines[0]).toContain('flotilla ▸ wide')
    expect(lines[0]).toContain('run_test')
    expect(lines[1]).toMatch(/✓ t0 +worker@1\.0\.0 +1 try +4 ms/)
    expect(lines[2]).toMatch(/t1 +worker@1\.0\.0 +2 tries +15 ms +50% halfway/)
    expect(lines[3]).toMatch(/○ t2 .*waiting/)
    expect(lines[4]).toContain('1/3 done')
    expect(lines[4]).toContain('1 running')
    expect(lines[4]).toContain('ETA 1.50 s')
    expect(lines[4]).toContain('50%') // one done plus half of a running task, of three
  })

  it('lists failures with their code and summarises tasks beyond the visible ones', () => {
    const display = new LiveDisplay(terminal(), workflowOf(30), runId, paint(false), { maxTaskLines: 5 })
    display.onEvent({
      type: 'task.started',
      at: 1,
      runId,
      taskId: asTaskId('t25'),
      attempt: 1,
      agent: 'worker@1.0.0',
      instanceId,
    })
    display.onEvent({
      type: 'task.failed',
      at: 2,
      runId,
      taskId: asTaskId('t25'),
      attempt: 1,
      tolerated: false,
      error: { code: 'TASK_TIMEOUT', message: 'too slow', details: {}, retryable: true },
    })
    const lines = display.lines()
    expect(lines).toHaveLength(1 + 5 + 1 + 1)
    expect(lines.find((l) => l.includes('t25'))).toMatch(/✗ t25 .*TASK_TIMEOUT: too slow/)
    expect(lines[6]).toContain('… 25 more: 25 pending')
  })

  it('redraws in place with cursor-up and clear-line escapes, and restores the cursor', () => {
    const term = terminal()
    const display = new LiveDisplay(term, workflowOf(2), runId, paint(false), { intervalMs: 10_000 })
    display.start()
    display.onEvent({ type: 'run.succeeded', at: 5, runId, durationMs: 5 })
    display.stop()
    expect(term.text.startsWith('\x1b[?25l')).toBe(true)
    expect(term.text).toContain('\x1b[4A') // header + 2 tasks + progress
    expect(term.text).toContain('\x1b[2K')
    expect(term.text.endsWith('\x1b[?25h')).toBe(true)
  })

  it('cuts lines to the terminal width', () => {
    const display = new LiveDisplay(
      terminal(50),
      compileWorkflow({ name: 'x'.repeat(80), tasks: [{ id: 'a', agent: 'w' }] }),
      runId,
      paint(true),
    )
    for (const line of display.lines()) expect(visibleLength(line)).toBeLessThanOrEqual(49)
  })

  it('keeps long task ids readable at 80 columns: cut in the middle, start and end kept', () => {
    const ids = ['summarise-chapter-of-the-report-0011', 'summarise-chapter-of-the-report-0012']
    const wf = compileWorkflow({
      name: 'long',
      tasks: ids.map((id) => ({ id, agent: 'a-rather-long-agent-name-indeed' })),
    })
    const display = new LiveDisplay(terminal(80), wf, runId, paint(true))
    display.onEvent({
      type: 'task.failed',
      at: 2,
      runId,
      taskId: asTaskId(ids[0]),
      attempt: 1,
      tolerated: false,
      error: { code: 'TASK_TIMEOUT', message: 'too slow', details: {}, retryable: true },
    })
    const lines = display.lines()
    for (const line of lines) expect(visibleLength(line)).toBeLessThanOrEqual(79)
    const shown = lines.slice(1, 3).map((l) => /^ {2}\S+ (\S+)/.exec(stripAnsi(l))![1])
    expect(shown[0]).not.toBe(shown[1])
    expect(shown[0]).toMatch(/^summarise-ch.*….*-0011$/)
    expect(shown[1]).toMatch(/….*-0012$/)
    expect(lines[1]).toContain('TASK_TIMEOUT')
  })

  it('draws a notice inside the frame, so that the next redraw leaves no fragment, and stops once', () => {
    const term = terminal()
    const display = new LiveDisplay(term, workflowOf(2), runId, paint(false), { intervalMs: 10_000 })
    display.start()
    display.notice('Interrupted: cancelling the run')
    expect(display.lines().at(-1)).toBe('Interrupted: cancelling the run')
    display.stop()
    const before = term.text
    display.stop()
    expect(term.text).toBe(before)
    // Every frame after the first moves up exactly as many lines as the frame before it had.
    const frames = term.text.split(new RegExp(`${ESC}\\[(\\d+)A`))
    expect(frames[1]).toBe('4')
    expect(frames[3]).toBe('5')
  })
})

describe('middleCell', () => {
  it('cuts in the middle and pads short text', () => {
    expect(middleCell('abcdefghij', 7)).toBe('abc…hij')
    expect(middleCell('abcdefghij', 6)).toBe('abc…ij')
    expect(middleCell('abc', 5)).toBe('abc  ')
  })
})

describe('LiveGroup', () => {
  it('stacks one frame per run and routes events by run id', () => {
    const term = terminal(100)
    const group = new LiveGroup(term, paint(false), { intervalMs: 10_000 })
    const other = asRunId('run_other')
    group.add(runId, workflowOf(2))
    group.add(other, workflowOf(1))
    group.onEvent({
      type: 'task.started',
      at: 1,
      runId: other,
      taskId: asTaskId('t0'),
      attempt: 1,
      agent: 'worker@1.0.0',
      instanceId,
    })
    const lines = group.lines()
    expect(lines.filter((l) => l.includes('flotilla ▸ wide'))).toHaveLength(2)
    expect(lines.findIndex((l) => l.includes('run_other'))).toBeGreaterThan(
      lines.findIndex((l) => l.includes('run_test')),
    )
    expect(lines.slice(lines.findIndex((l) => l.includes('run_other'))).join('\n')).toContain('1 running')
    group.start()
    group.notice('Interrupted')
    group.stop()
    expect(term.text.endsWith('\x1b[?25h')).toBe(true)
    expect(group.lines().at(-1)).toBe('Interrupted')
  })
})
