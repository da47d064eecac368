import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { llmAgentFromSpec } from '../../src/agents/llm-spec.js'
import { parseAgentSpec } from '../../src/agents/spec.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import { chatText, startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js'

// The spec's model: block takes structured output as a JSON Schema, and stream.
let llm: FakeLlm
let answers: string[] = []
beforeAll(async () => {
  llm = await startFakeLlm(() => chatText(answers.shift() ?? '{}'))
})
afterAll(async () => {
  await llm.close()
})

const verdict = {
  type: 'object',
  properties: { verdict: { type: 'string', enum: ['yes', 'no'] }, score: { type: 'number' } },
  required: ['verdict', 'score'],
  additionalProperties: false,
}

describe('model: block output and stream', () => {
  it('answers an object matching the block’s JSON Schema, with one correction of an invalid answer', async () => {
    answers = ['{"verdict":"maybe","score":1}', '{"verdict":"yes","score":0.9}']
    const agent = llmAgentFromSpec(
      'judge',
      { model: `openai-compatible:${llm.url}#judge`, output: verdict, maxRetries: 0 },
      [],
    )
    const o = new Orchestrator({ store: 'memory' })
    try {
      await o.register(agent)
      const result = await o.run(workflow('j').task('a', { agent: 'judge', input: 'Is water wet?' }).build())
      expect(result.output('a')).toEqual({ verdict: 'yes', score: 0.9 })
    } finally {
      await o.close()
    }
  })

  it('accepts stream and output in a spec, and refuses an output that is not a JSON Schema (AGENT_SPEC_INVALID)', () => {
    expect(
      parseAgentSpec({ name: 'j', model: { model: 'openai:gpt-4.1-mini', stream: true, output: verdict } }),
    ).toMatchObject({ model: { stream: true, output: verdict } })
    expect(() => llmAgentFromSpec('j', { model: 'openai:gpt-4.1-mini', output: { type: 'nonsense' } }, [])).toThrow(
      /model\.output/,
    )
    expect(() => parseAgentSpec({ name: 'j', model: { model: 'openai:gpt-4.1-mini', stream: 'yes' } })).toThrow(
      /model\.stream/,
    )
  })
})
