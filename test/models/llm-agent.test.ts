import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { defineTool } from '../../src/agents/tools.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import { toolResults } from '../helpers/model-calls.js'

// Language-model agents on the scripted model: the tool loop (parallel calls,
// errors fed back, permissions), structured output with one correction,
// the step limit, budgets checked before a call, and the journal that keeps a
// retry from paying again for calls an earlier attempt finished.

const add = defineTool({
  name: 'add',
  description: 'Adds two numbers',
  input: z.object({ a: z.number(), b: z.number() }),
  run: ({ a, b }) => a + b,
})

/** Runs one task of `agent` with `input` and returns the run's result, events and the orchestrator's events. */
async function runOne(
  agent: Parameters<Orchestrator['register']>[0],
  input: unknown,
  task: Record<string, unknown> = {},
) {
  const o = new Orchestrator()
  const events: FlotillaEvent[] = []
  o.on('*', (e) => events.push(e))
  await o.register(agent)
  const result = await o.run(
    workflow('one')
      .task('t', { agent: agent.name, input, ...task })
      .build(),
  )
  await o.close()
  return { result, events }
}

describe('defineLlmAgent', () => {
  it('runs a tool loop: parallel tool calls, results sent back, the final text as output, a model.called event per call with tokens and cost', async () => {
    let running = 0
    let peak = 0
    const slowAdd = defineTool({
      name: 'add',
      input: z.object({ a: z.number(), b: z.number() }),
      run: async ({ a, b }) => {
        peak = Math.max(peak, ++running)
        await new Promise((r) => setTimeout(r, 20))
        running--
        return a + b
      },
    })
    const model = scriptedModel(
      [
        {
          toolCalls: [
            { name: 'add', input: { a: 1, b: 2 } },
            { name: 'add', input: { a: 3, b: 4 } },
          ],
          usage: { inputTokens: 1000, outputTokens: 50 },
        },
        { text: 'The sums are 3 and 7.', usage: { inputTokens: 1200, outputTokens: 20 } },
      ],
      { modelId: 'gpt-4.1-mini' },
    )
    const agent = defineLlmAgent({ name: 'calc', model, system: 'You add.', tools: [slowAdd] })
    const { result, events } = await runOne(agent, 'Add 1+2 and 3+4.')
    expect(result.state).toBe('SUCCEEDED')
    expect(result.output('t')).toBe('The sums are 3 and 7.')
    expect(peak).toBe(2)
    expect(model.calls).toHaveLength(2)
    expect(model.calls[0].prompt[0]).toMatchObject({ role: 'system', content: 'You add.' })
    expect(model.calls[0].tools?.map((t) => t.name)).toEqual(['add'])
    expect(toolResults(model.calls[1])).toEqual([3, 7])
    const calls = events.filter((e) => e.type === 'model.called')
    expect(calls).toHaveLength(2)
    expect(calls[0]).toMatchObject({
      agent: 'calc',
      model: 'scripted:gpt-4.1-mini',
      call: 0,
      replayed: false,
      finishReason: 'tool-calls',
      usage: { inputTokens: 1000, outputTokens: 50 },
    })
    expect(calls[1]).toMatchObject({ call: 1, finishReason: 'stop' })
  })

  it("prices calls from the table by provider:model prefix, and from the agent's own prices", async () => {
    const model = scriptedModel([{ text: 'ok', usage: { inputTokens: 1_000_000, outputTokens: 1_000_000 } }], {
      modelId: 'm1',
    })
    const agent = defineLlmAgent({ name: 'priced', model, prices: { 'scripted:m1': { input: 2, output: 8 } } })
    const { events } = await runOne(agent, 'hi')
    expect(events.find((e) => e.type === 'model.called')).toMatchObject({ costUsd: 10 })
  })

  it('feeds a tool error and a permission denial back to the model instead of failing the task', async () => {
    const broken = defineTool({
      name: 'broken',
      run: () => {
        throw new Error('disk on fire')
      },
    })
    const model = scriptedModel([
      {
        toolCalls: [
          { name: 'broken', input: {} },
          { name: 'add', input: { a: 1, b: 1 } },
        ],
      },
      { text: 'I could not.' },
    ])
    const agent = defineLlmAgent({
      name: 'careful',
      model,
      tools: [broken, add],
      permissions: [{ resource: 'tool:broken', actions: ['call'] }],
    })
    const { result } = await runOne(agent, 'try')
    expect(result.state).toBe('SUCCEEDED')
    const [fromBroken, fromAdd] = toolResults(model.calls[1]) as { error: { code: string; message: string } }[]
    expect(fromBroken.error).toMatchObject({ code: 'TASK_FAILED', message: expect.stringContaining('disk on fire') })
    expect(fromAdd.error).toMatchObject({ code: 'PERMISSION_DENIED' })
  })

  it('returns structured output, correcting the model once when its answer does not match the schema', async () => {
    const model = scriptedModel([{ object: { title: 'x' } }, { object: { title: 'Cats', words: 3 } }])
    const agent = defineLlmAgent({ name: 'titler', model, output: z.object({ title: z.string(), words: z.number() }) })
    const { result } = await runOne(agent, { prompt: 'Title this.' })
    expect(result.output('t')).toEqual({ title: 'Cats', words: 3 })
    expect(model.calls).toHaveLength(2)
    expect(JSON.stringify(model.calls[1].prompt.at(-1))).toContain('does not match the required JSON schema')
  })

  it('fails with MODEL_OUTPUT_INVALID when the corrected answer is still wrong', async () => {
    const model = scriptedModel([{ text: 'not json' }], { repeatLast: true })
    const agent = defineLlmAgent({ name: 'stubborn', model, output: z.object({ n: z.number() }) })
    const { result } = await runOne(agent, 'n?')
    expect(result.state).toBe('FAILED')
    expect(result.tasks.t.error?.code).toBe('MODEL_OUTPUT_INVALID')
    expect(model.calls).toHaveLength(2)
  })

  it('answers with a confidence when asked', async () => {
    const model = scriptedModel([{ object: { answer: 'Paris', confidence: 0.9 } }])
    const agent = defineLlmAgent({ name: 'sure', model, confidence: true })
    const { result } = await runOne(agent, 'Capital of France?')
    expect(result.output('t')).toEqual({ answer: 'Paris', confidence: 0.9 })
    expect(JSON.stringify(model.calls[0].prompt[0])).toContain('confidence')
  })

  it('stops at maxSteps with MODEL_STEP_LIMIT when the model keeps calling tools', async () => {
    const model = scriptedModel([{ toolCalls: [{ name: 'add', input: { a: 1, b: 1 } }] }], { repeatLast: true })
    const agent = defineLlmAgent({ name: 'loopy', model, tools: [add], maxSteps: 3 })
    const { result } = await runOne(agent, 'go')
    expect(result.tasks.t.error?.code).toBe('MODEL_STEP_LIMIT')
    expect(model.calls).toHaveLength(3)
  })

  it('refuses a call that could pass the budget before making it (BUDGET_EXCEEDED, not retried), and warns at 80 %', async () => {
    const model = scriptedModel([{ text: 'ok' }], { repeatLast: true })
    const tight = defineLlmAgent({ name: 'tight', model, maxTokens: 500, budget: { task: { tokens: 400 } } })
    const { result } = await runOne(tight, 'hello', { retry: { maxAttempts: 3, initialDelayMs: 1 } })
    expect(result.tasks.t.error?.code).toBe('BUDGET_EXCEEDED')
    expect(result.tasks.t.attempts).toBe(1)
    expect(model.calls).toHaveLength(0)

    const model2 = scriptedModel([{ text: 'ok', usage: { inputTokens: 500, outputTokens: 350 } }])
    const warned = defineLlmAgent({ name: 'warned', model: model2, maxTokens: 100, budget: { task: { tokens: 1000 } } })
    const { events } = await runOne(warned, 'hello')
    expect(events.find((e) => e.type === 'budget.warning')).toMatchObject({
      agent: 'warned',
      scope: 'task',
      measure: 'tokens',
      spent: 850,
      limit: 1000,
    })
  })

  it('a retry replays the model and tool calls the failed attempt finished: none is made or run twice', async () => {
    let adds = 0
    const counted = defineTool({
      name: 'add',
      input: z.object({ a: z.number(), b: z.number() }),
      run: ({ a, b }) => (adds++, a + b),
    })
    const model = scriptedModel([
      { toolCalls: [{ name: 'add', input: { a: 1, b: 2 } }] },
      { toolCalls: [{ name: 'add', input: { a: 3, b: 4 } }] },
      { error: { status: 500, message: 'upstream died' } },
      { text: 'done' },
    ])
    const agent = defineLlmAgent({ name: 'durable', model, tools: [counted], maxRetries: 0 })
    const { result, events } = await runOne(agent, 'go', { retry: { maxAttempts: 2, initialDelayMs: 1 } })
    expect(result.state).toBe('SUCCEEDED')
    expect(result.tasks.t.attempts).toBe(2)
    expect(model.calls).toHaveLength(4)
    expect(adds).toBe(2)
    const calls = events.filter((e) => e.type === 'model.called').map((e) => [e.attempt, e.call, e.replayed])
    expect(calls).toEqual([
      [1, 0, false],
      [1, 1, false],
      [2, 0, true],
      [2, 1, true],
      [2, 2, false],
    ])
  })

  it('refuses bad configurations with AGENT_INVALID, and bad model strings with MODEL_INVALID / MODEL_KEY_MISSING at the call', async () => {
    expect(() => defineLlmAgent({ name: 'x', model: 'nope:abc' })).toThrow(
      expect.objectContaining({ code: 'AGENT_INVALID' }),
    )
    expect(() => defineLlmAgent({ name: 'x', model: scriptedModel([]), maxSteps: 0 })).toThrow(
      expect.objectContaining({ code: 'AGENT_INVALID' }),
    )
    expect(() =>
      defineLlmAgent({ name: 'x', model: scriptedModel([]), budget: { task: { dollars: 1 } as never } }),
    ).toThrow(/unknown limit "dollars"/)
    const keyless = defineLlmAgent({ name: 'keyless', model: 'openai:gpt-4.1-mini', env: {} })
    const { result } = await runOne(keyless, 'hi')
    expect(result.tasks.t.error).toMatchObject({
      code: 'MODEL_KEY_MISSING',
      message: expect.stringContaining('OPENAI_API_KEY'),
    })
  })
})
