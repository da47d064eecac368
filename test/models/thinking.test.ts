import { describe, expect, it } from 'vitest'
import { defineLlmAgent, type LlmAgentConfig } from '../../src/agents/llm-agent.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { scriptedModel, type ScriptStep } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'

// Thinking agents: reflection (critique and revise until the critic accepts)
// and exploration (k answers, one chosen by vote or by the critic).

async function run(config: Omit<LlmAgentConfig<unknown, string, boolean>, 'name'>) {
  const o = new Orchestrator()
  const events: FlotillaEvent[] = []
  o.on('*', (e) => events.push(e))
  await o.register(defineLlmAgent({ name: 'thinker', ...config }))
  const result = await o.run(workflow('t').task('t', { agent: 'thinker', input: 'Name a prime number.' }).build())
  await o.close()
  return { result, events }
}

const texts = (...xs: string[]): ScriptStep[] => xs.map((text) => ({ text }))
const lastUser = (call: { prompt: readonly { role: string; content: unknown }[] }): string =>
  JSON.stringify(call.prompt.filter((m) => m.role === 'user').at(-1))

describe('reflection', () => {
  it("revises with the critique until the critic accepts (the agent's own model as critic)", async () => {
    const model = scriptedModel([
      { text: 'Nine.' },
      { object: { accept: false, critique: '9 is 3 × 3; pick another.' } },
      { text: 'Seven.' },
      { object: { accept: true, critique: 'Correct.' } },
    ])
    const { result, events } = await run({ model, reflection: { rounds: 3 } })
    expect(result.output('t')).toBe('Seven.')
    expect(model.calls).toHaveLength(4)
    expect(lastUser(model.calls[2])).toContain('9 is 3 × 3; pick another.')
    expect(events.filter((e) => e.type === 'model.called').map((e) => e.call)).toEqual([0, 1, 2, 3])
    expect(
      events
        .filter((e) => e.type === 'task.log' && e.message === 'reflection')
        .map((e) => (e as { data?: { accept: boolean } }).data?.accept),
    ).toEqual([false, true])
  })

  it('stops after its rounds; a separate critic model judges', async () => {
    const model = scriptedModel(texts('Nine.', 'Fifteen.'))
    const critic = scriptedModel([{ object: { accept: false, critique: 'Not prime.' } }], {
      repeatLast: true,
      modelId: 'critic',
    })
    const { result, events } = await run({ model, reflection: { rounds: 1, critic } })
    expect(result.output('t')).toBe('Fifteen.')
    expect(critic.calls).toHaveLength(1)
    expect(events.filter((e) => e.type === 'model.called').map((e) => e.model)).toEqual([
      'scripted:script',
      'scripted:critic',
      'scripted:script',
    ])
  })
})

describe('explore', () => {
  it('keeps the most frequent of k answers (vote)', async () => {
    const model = scriptedModel(texts('Seven.', 'Two.', 'Seven.'))
    expect((await run({ model, explore: { k: 3 } })).result.output('t')).toBe('Seven.')
  })

  it('weights a vote by confidence when the answers carry one', async () => {
    const model = scriptedModel([
      { object: { answer: 'Nine', confidence: 0.2 } },
      { object: { answer: 'Seven', confidence: 0.9 } },
      { object: { answer: 'Nine', confidence: 0.3 } },
    ])
    expect((await run({ model, confidence: true, explore: { k: 3 } })).result.output('t')).toEqual({
      answer: 'Seven',
      confidence: 0.9,
    })
  })

  it('lets the critic choose', async () => {
    const model = scriptedModel([...texts('Nine.', 'Seven.'), { object: { best: 1, reason: 'Nine is not prime.' } }])
    const { result } = await run({ model, explore: { k: 2, choose: 'critic' } })
    expect(result.output('t')).toBe('Seven.')
    expect(lastUser(model.calls[2])).toContain('[1]\\nSeven.')
  })

  it('refuses bad options (AGENT_INVALID)', () => {
    const model = scriptedModel([])
    expect(() => defineLlmAgent({ name: 'x', model, explore: { k: 1 } })).toThrow(
      expect.objectContaining({ code: 'AGENT_INVALID' }),
    )
    expect(() => defineLlmAgent({ name: 'x', model, reflection: {} as never })).toThrow(/reflection needs rounds/)
  })
})
