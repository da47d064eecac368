import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import { ensureBuilt, runCli, tempDir } from './run-cli.js'

// `flotilla runs show` prints the model spend stored on the task records.

const tmp = tempDir('flotilla-runs-spend-')
let store: string
let runId: string

beforeAll(async () => {
  ensureBuilt()
  store = join(tmp.dir, 'runs.db')
  const o = new Orchestrator({ store })
  try {
    await o.register(
      defineLlmAgent({
        name: 'writer',
        model: scriptedModel([{ text: 'words', usage: { inputTokens: 1200, outputTokens: 80 } }], {
          repeatLast: true,
          modelId: 'm',
        }),
        prices: { 'scripted:m': { input: 1, output: 5 } },
      }),
    )
    await o.register(defineAgent({ name: 'plain', handler: () => 1 }))
    const result = await o.run(
      workflow('spend').task('w', { agent: 'writer', input: 'go' }).task('p', { agent: 'plain', input: 1 }).build(),
    )
    expect(result.state).toBe('SUCCEEDED')
    runId = result.runId
  } finally {
    await o.close()
  }
}, 60_000)
afterAll(() => tmp.cleanup())

it("shows each task's model spend and the run's total, in text and JSON", async () => {
  const text = await runCli(['runs', 'show', runId, '--store', store])
  expect(text.code, text.stderr).toBe(0)
  expect(text.stdout).toMatch(/ {2}model {6}1 model call · 1,200 in \/ 80 out tokens · \$0\.0016/)
  expect(text.stdout).toMatch(/TASK +STATE +ATTEMPTS +AGENT +DURATION +MODEL +ERROR/)
  expect(text.stdout).toMatch(/ w +SUCCEEDED +1 +writer@1\.0\.0 +[\d.]+ m?s +\$0\.0016 · 1 call/)
  expect(text.stdout).toMatch(/ p +SUCCEEDED +1 +plain@1\.0\.0 +[\d.]+ m?s +–/)
  const json = JSON.parse((await runCli(['runs', 'show', runId, '--store', store, '--json'])).stdout) as {
    tasks: { id: string; model: { calls: number; inputTokens: number; costUsd: number } | null }[]
  }
  expect(json.tasks.map((t) => [t.id, t.model?.calls ?? null])).toEqual([
    ['w', 1],
    ['p', null],
  ])
  expect(json.tasks[0].model).toMatchObject({ inputTokens: 1200, outputTokens: 80 })
})
