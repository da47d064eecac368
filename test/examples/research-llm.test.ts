import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, runCli, tempDir } from '../cli/run-cli.js'
import { chatText, startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js'

// examples/research-llm: offline on scripted models (the default), and on a
// "real" endpoint (FLOTILLA_MODEL) served by a local OpenAI-compatible server.

const WORKFLOW = 'examples/research-llm/workflow.yaml'
const { dir, cleanup } = tempDir('flotilla-research-llm-')
beforeAll(ensureBuilt)
afterAll(cleanup)

interface Summary {
  model?: { calls: number; costUsd: number }
  perAgent: Record<string, { model?: { calls: number } }>
}
interface RunJson {
  state: string
  summary: Summary
  tasks: Record<string, { state: string; agent?: string }>
  outputs: Record<string, unknown>
}

describe('examples/research-llm', () => {
  it('runs offline: three perspectives, the synthesis from the fallback model, a low-confidence review and its revision, with tokens and cost per agent', async () => {
    const store = join(dir, 'offline.db')
    const r = await runCli(['run', WORKFLOW, '--store', store, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const run = JSON.parse(r.stdout) as RunJson
    expect(run.state).toBe('SUCCEEDED')
    expect(run.tasks.synthesis.agent).toBe('synthesizer-backup@1.0.0')
    expect(run.outputs.review).toMatchObject({ confidence: 0.55 })
    expect(run.tasks.revision.state).toBe('SUCCEEDED')
    expect(String(run.outputs.revision)).toContain('Recommendation')
    expect(run.summary.model?.calls).toBe(6)
    expect(run.summary.model?.costUsd).toBeGreaterThan(0)
    expect(run.summary.perAgent['economist@1.0.0'].model?.calls).toBe(1)
    const plain = await runCli(['run', WORKFLOW, '--store', store])
    expect(plain.stdout).toMatch(/models\s+6 model calls · \d+ in \/ \d+ out tokens · \$0\.\d{4}/)
    const id = /Run (run_\w+)/.exec(plain.stdout)?.[1]
    const trace = await runCli(['runs', 'trace', id!, 'review', '--store', store])
    expect(trace.code, trace.stderr).toBe(0)
    expect(trace.stdout).toContain('task review · reviewer')
    expect(trace.stdout).toContain('"confidence":0.55')
  }, 60_000)

  describe('on a model endpoint (FLOTILLA_MODEL)', () => {
    let llm: FakeLlm
    beforeAll(async () => {
      llm = await startFakeLlm((request) => {
        const structured = request.body.response_format !== undefined
        return structured
          ? chatText(JSON.stringify({ answer: { verdict: 'good', critique: 'none' }, confidence: 0.9 }))
          : chatText('A finding.')
      })
    })
    afterAll(() => llm.close())

    it('sends every agent to the endpoint; a confident review skips the revision', async () => {
      const r = await runCli(['run', WORKFLOW, '--store', 'memory', '--json'], {
        env: { FLOTILLA_MODEL: `openai-compatible:${llm.url}#local` },
      })
      expect(r.code, r.stderr).toBe(0)
      const run = JSON.parse(r.stdout) as RunJson
      expect(run.tasks.synthesis.agent).toBe('synthesizer@1.0.0')
      expect(run.tasks.revision.state).toBe('SKIPPED')
      expect(llm.requests).toHaveLength(5)
      expect(llm.requests.every((q) => q.body.model === 'local')).toBe(true)
    }, 60_000)
  })
})
