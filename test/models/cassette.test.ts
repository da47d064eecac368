import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { defineTool } from '../../src/agents/tools.js'
import { recordModel, replayModel } from '../../src/models/cassette.js'
import type { LanguageModel } from '../../src/models/providers.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'

// Cassettes: record a model's answers once, replay them offline; a request
// that was not recorded fails naming the call.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-cassette-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const add = defineTool({ name: 'add', input: z.object({ a: z.number(), b: z.number() }), run: ({ a, b }) => a + b })

async function ask(model: LanguageModel, question: string) {
  const o = new Orchestrator()
  await o.register(defineLlmAgent({ name: 'calc', model, tools: [add] }))
  const result = await o.run(workflow('q').task('t', { agent: 'calc', input: question }).build())
  await o.close()
  return result
}

describe('recordModel / replayModel', () => {
  const file = join(dir, 'calc.json')

  it('records every call of a tool loop, then replays it without the model', async () => {
    const live = scriptedModel([{ toolCalls: [{ name: 'add', input: { a: 2, b: 2 } }] }, { text: 'Four.' }], {
      modelId: 'live-1',
    })
    expect((await ask(recordModel(live, file), 'What is 2+2?')).output('t')).toBe('Four.')
    const cassette = JSON.parse(readFileSync(file, 'utf8')) as { model: string; entries: unknown[] }
    expect(cassette).toMatchObject({ version: 1, model: 'scripted:live-1' })
    expect(cassette.entries).toHaveLength(2)
    const replay = replayModel(file)
    expect((await ask(replay, 'What is 2+2?')).output('t')).toBe('Four.')
    expect(replay.remaining).toBe(0)
  })

  it('fails with MODEL_CALL_FAILED naming the call when the request was not recorded', async () => {
    const result = await ask(replayModel(file), 'What is 3+3?')
    expect(result.tasks.t.error).toMatchObject({
      code: 'MODEL_CALL_FAILED',
      message: expect.stringContaining('no recorded answer for call 1'),
    })
    expect(() => replayModel(join(dir, 'missing.json'))).toThrow(expect.objectContaining({ code: 'FILE_NOT_FOUND' }))
  })
})
