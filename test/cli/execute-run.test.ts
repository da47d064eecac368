import { describe, expect, it } from 'vitest'
import { untilSettled, type CliIO, type InPlaceDisplay } from '../../src/cli/execute-run.js'
import { asRunId } from '../../src/core/ids.js'
import type { RunHandle } from '../../src/orchestrator/orchestrator.js'
import type { RunResult } from '../../src/workflows/results.js'

function sink(): NodeJS.WritableStream & { text: string } {
  const s = {
    text: '',
    write(chunk: string) {
      s.text += chunk
      return true
    },
  }
  return s as unknown as NodeJS.WritableStream & { text: string }
}

/** A run handle whose result settles when it is cancelled. */
function handle(): RunHandle & { reasons: string[] } {
  let settle!: (r: RunResult) => void
  const result = new Promise<RunResult>((resolve) => (settle = resolve))
  const reasons: string[] = []
  return {
    id: asRunId('run_until_settled'),
    result,
    reasons,
    pause() {},
    resume() {},
    cancel(reason?: string) {
      reasons.push(reason ?? '')
      settle({ ok: false } as RunResult)
    },
    progress: () => {
      throw new Error('unused')
    },
  }
}

describe('untilSettled', () => {
  it('on Ctrl-C with a live display, shows the notice inside the display (nothing written over the frame) and cancels', async () => {
    const io: CliIO = { out: sink(), err: sink() }
    const notices: string[] = []
    const live: InPlaceDisplay = { notice: (t) => notices.push(t), stop: () => undefined }
    const h = handle()
    const settled = untilSettled([h], io, live)
    process.emit('SIGINT')
    await settled
    expect(notices).toEqual(['Interrupted: cancelling the run (press Ctrl-C again to quit at once).'])
    expect((io.err as unknown as { text: string }).text).toBe('')
    expect((io.out as unknown as { text: string }).text).toBe('')
    expect(h.reasons).toEqual(['interrupted (Ctrl-C)'])
  })

  it('without a display, writes the notice on stderr', async () => {
    const io: CliIO = { out: sink(), err: sink() }
    const settled = untilSettled([handle()], io)
    process.emit('SIGINT')
    await settled
    expect((io.err as unknown as { text: string }).text).toContain('Interrupted: cancelling the run')
  })
})
