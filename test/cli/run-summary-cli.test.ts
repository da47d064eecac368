import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import { ensureBuilt, ROOT, runCli, tempDir } from './run-cli.js'

// `flotilla runs show` prints a run's generated summary and counts its cost;
// `runs replay --children` takes keep or rerun; `agent templates` lists templates.

const tmp = tempDir('flotilla-run-summary-')
let store: string
let runId: string

beforeAll(async () => {
  ensureBuilt()
  store = join(tmp.dir, 'runs.db')
  const summaryModel = scriptedModel(
    [{ text: 'The count came to three, as expected.', usage: { inputTokens: 500, outputTokens: 20 } }],
    { modelId: 'sum' },
  )
  const o = new Orchestrator({ store, summaryModel })
  try {
    await o.register(defineAgent({ name: 'count', handler: () => 3 }))
    const wf = workflow('counting')
      .task('c', { agent: 'count', input: null })
      .summary({ prices: { 'scripted:sum': { input: 10, output: 50 } } })
      .build()
    const result = await o.run(wf)
    expect(result.writtenSummary?.text).toBe('The count came to three, as expected.')
    runId = result.runId
  } finally {
    await o.close()
  }
}, 60_000)
afterAll(() => tmp.cleanup())

it('shows the summary with its model and cost, counted in the run total, in text and JSON', async () => {
  const text = await runCli(['runs', 'show', runId, '--store', store])
  expect(text.code, text.stderr).toBe(0)
  // 500 × $10 + 20 × $50 per million tokens = $0.006
  expect(text.stdout).toMatch(/ {2}model {6}1 model call · 500 in \/ 20 out tokens · \$0\.0060/)
  expect(text.stdout).toContain('Summary (by scripted:sum, $0.0060):\n  The count came to three, as expected.')
  expect(text.stdout).toMatch(/run\.summarized by scripted:sum \(37 characters, \$0\.0060\)/)
  const json = JSON.parse((await runCli(['runs', 'show', runId, '--store', store, '--json'])).stdout) as {
    run: { summary: { text: string; spend: { costUsd: number } }; parentTaskId: string | null }
  }
  expect(json.run.summary.text).toBe('The count came to three, as expected.')
  expect(json.run.summary.spend.costUsd).toBeCloseTo(0.006, 10)
  expect(json.run.parentTaskId).toBeNull()
})

it('refuses a --children value other than keep or rerun with CLI_USAGE, before anything runs', async () => {
  const r = await runCli(['runs', 'replay', runId, '--store', store, '--children', 'drop'])
  expect(r.code).toBe(2)
  expect(r.stderr).toContain('CLI_USAGE')
  expect(r.stderr).toContain('--children')
})

it('lists the templates of an agents module, and asks where they are without --agents or --server', async () => {
  const module = join(ROOT, 'examples/dynamic-research/agents.mjs')
  const r = await runCli(['agent', 'templates', '--agents', module, '--json'], { env: { FLOTILLA_SERVER: undefined } })
  expect(r.code, r.stderr).toBe(0)
  const rows = JSON.parse(r.stdout) as { name: string; model: string; generic: boolean }[]
  expect(rows.map((t) => [t.name, t.generic])).toEqual([
    ['economist', false],
    ['generic', true],
    ['researcher', false],
  ])
  expect(rows[0].model).toBe('scripted:offline-economist')
  const none = await runCli(['agent', 'templates'], { env: { FLOTILLA_SERVER: undefined } })
  expect(none.code).toBe(2)
  expect(none.stderr).toContain('--agents')
})
