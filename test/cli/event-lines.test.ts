import { describe, expect, it } from 'vitest'
import { formatEventLine } from '../../src/cli/event-lines.js'
import { asRunId, asTaskId } from '../../src/core/ids.js'
import type { RunEvent } from '../../src/core/events.js'

const runId = asRunId('run_lines')
const log = (level: 'debug' | 'info' | 'warn' | 'error', data?: unknown): RunEvent => ({
  type: 'task.log',
  at: 0,
  runId,
  taskId: asTaskId('t'),
  level,
  message: `a ${level} line`,
  ...(data === undefined ? {} : { data }),
})

describe('formatEventLine', () => {
  it('shows every ctx.log line at --verbose, with its data; only warnings and errors without', () => {
    expect(formatEventLine(log('info', { files: 3 }), true)).toMatch(/task\.log t info: a info line \{"files":3\}$/)
    expect(formatEventLine(log('debug'), true)).toMatch(/task\.log t debug: a debug line$/)
    expect(formatEventLine(log('info'), false)).toBeUndefined()
    expect(formatEventLine(log('warn'), false)).toMatch(/task\.log t warn: a warn line$/)
  })

  it('cuts long log data', () => {
    expect(formatEventLine(log('info', 'x'.repeat(1000)), true)!.length).toBeLessThan(260)
  })

  it('prints durations rounded', () => {
    expect(
      formatEventLine(
        { type: 'task.succeeded', at: 0, runId, taskId: asTaskId('t'), attempt: 1, durationMs: 30.896931999999993 },
        false,
      ),
    ).toMatch(/\(31 ms\)$/)
  })

  it('says which task a run waits on and for what', () => {
    const line = formatEventLine(
      {
        type: 'run.waiting',
        at: 0,
        runId,
        taskId: asTaskId('x'),
        agent: 'late',
        reason: 'no live worker offers agent "late"',
      },
      false,
    )
    expect(line).toMatch(/run\.waiting x: no live worker offers agent "late"$/)
  })

  it('says who paused a run when another process did', () => {
    expect(formatEventLine({ type: 'run.paused', at: 0, runId, by: 'another process' }, false)).toMatch(
      /run\.paused by another process$/,
    )
    expect(formatEventLine({ type: 'run.paused', at: 0, runId }, false)).toMatch(/run\.paused$/)
  })
})
