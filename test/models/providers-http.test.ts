import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineLlmAgent, type LlmAgentConfig } from '../../src/agents/llm-agent.js'
import { defineTool } from '../../src/agents/tools.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { resolveModel } from '../../src/models/providers.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import {
  anthropicText,
  chatText,
  chatToolCalls,
  startFakeLlm,
  type FakeHandler,
  type FakeLlm,
} from '../helpers/fake-llm.js'

// The real provider packages of the AI SDK, over real HTTP, against a local
// server speaking their wire formats: the tool loop, retries honouring
// Retry-After, refused keys, server errors, malformed bodies, a connection
// that never answers.

let server: FakeLlm | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

async function serve(handler: FakeHandler): Promise<FakeLlm> {
  server = await startFakeLlm(handler)
  return server
}

async function run(config: LlmAgentConfig<unknown, string, false>, task: Record<string, unknown> = {}) {
  const o = new Orchestrator()
  const events: FlotillaEvent[] = []
  o.on('*', (e) => events.push(e))
  await o.register(defineLlmAgent(config))
  const result = await o.run(
    workflow('one')
      .task('t', { agent: config.name, input: 'Add 1 and 2.', ...task })
      .build(),
  )
  await o.close()
  return { result, events }
}

const add = defineTool({ name: 'add', input: z.object({ a: z.number(), b: z.number() }), run: ({ a, b }) => a + b })

describe('models over HTTP', () => {
  it('openai-compatible:<url>#<model> runs a tool loop against an OpenAI-compatible server', async () => {
    const s = await serve((_, i) =>
      i === 0 ? chatToolCalls([{ id: 'c1', name: 'add', input: { a: 1, b: 2 } }]) : chatText('It is 3.'),
    )
    const { result, events } = await run({
      name: 'calc',
      model: `openai-compatible:${s.url}#fake-model`,
      tools: [add],
      system: 'Be brief.',
    })
    expect(result.output('t')).toBe('It is 3.')
    expect(s.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions'])
    expect(s.requests[0].body).toMatchObject({
      model: 'fake-model',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Add 1 and 2.' },
      ],
    })
    expect((s.requests[0].body.tools as { function: { name: string } }[])[0].function.name).toBe('add')
    expect(
      (s.requests[1].body.messages as { role: string; content: unknown }[]).find((m) => m.role === 'tool'),
    ).toMatchObject({ content: '3' })
    expect(events.filter((e) => e.type === 'model.called')[0]).toMatchObject({
      model: 'openai-compatible:fake-model',
      usage: { inputTokens: 100, outputTokens: 20 },
      costUsd: 0,
    })
  })

  it('retries a 429 after its Retry-After, and 500s, within maxRetries', async () => {
    const at: number[] = []
    const s = await serve((_, i) => {
      at.push(Date.now())
      if (i === 0) return { json: { error: { message: 'slow down' } }, status: 429, headers: { 'retry-after': '1' } }
      if (i === 1) return { json: { error: { message: 'oops' } }, status: 500 }
      return chatText('fine')
    })
    const { result } = await run({ name: 'patient', model: `openai-compatible:${s.url}#m` })
    expect(result.output('t')).toBe('fine')
    expect(s.requests).toHaveLength(3)
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(950)
  })

  it('a refused key is MODEL_AUTH_FAILED, tried once and not retried by the task', async () => {
    const s = await serve(() => ({ json: { error: { message: 'bad key' } }, status: 401 }))
    const { result } = await run(
      { name: 'locked', model: `openai-compatible:${s.url}#m` },
      { retry: { maxAttempts: 3, initialDelayMs: 1 } },
    )
    expect(result.tasks.t.error).toMatchObject({
      code: 'MODEL_AUTH_FAILED',
      message: expect.stringContaining('HTTP 401'),
    })
    expect(s.requests).toHaveLength(1)
  })

  it('server errors past maxRetries and a malformed body are MODEL_CALL_FAILED', async () => {
    const s = await serve(() => ({ json: { error: { message: 'down' } }, status: 503 }))
    const { result } = await run({ name: 'unlucky', model: `openai-compatible:${s.url}#m`, maxRetries: 1 })
    expect(result.tasks.t.error).toMatchObject({ code: 'MODEL_CALL_FAILED', details: { status: 503 } })
    expect(s.requests).toHaveLength(2)
    await s.close()
    const bad = await serve(() => ({ raw: '{"choices": [ oops' }))
    const { result: r2 } = await run({ name: 'garbled', model: `openai-compatible:${bad.url}#m`, maxRetries: 0 })
    expect(r2.tasks.t.error?.code).toBe('MODEL_CALL_FAILED')
  })

  it('a connection that never answers ends with the task timeout, through ctx.signal', async () => {
    const s = await serve(() => ({ hang: true }))
    const started = Date.now()
    const { result } = await run({ name: 'waiting', model: `openai-compatible:${s.url}#m` }, { timeoutMs: 300 })
    expect(result.tasks.t.error?.code).toBe('TASK_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('anthropic:<model> speaks the messages API with the key header, a thinking budget, and cached tokens in the usage', async () => {
    const s = await serve(() => anthropicText('Hello.', 'Let me think.'))
    const env = { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: s.url }
    const { result, events } = await run({
      name: 'claude',
      model: 'anthropic:claude-sonnet-4-5',
      env,
      thinking: { budgetTokens: 2048 },
      maxTokens: 4096,
    })
    expect(result.output('t')).toBe('Hello.')
    expect(s.requests[0].path).toBe('/v1/messages')
    expect(s.requests[0].headers['x-api-key']).toBe('sk-test')
    expect(s.requests[0].body).toMatchObject({
      model: 'claude-sonnet-4-5',
      thinking: { type: 'enabled', budget_tokens: 2048 },
    })
    const call = events.find((e) => e.type === 'model.called')
    expect(call).toMatchObject({
      model: 'anthropic:claude-sonnet-4-5',
      usage: { outputTokens: 12, cachedInputTokens: 20 },
    })
    expect((call as { costUsd: number }).costUsd).toBeGreaterThan(0)
  })

  it('openai:<model> speaks the Responses API with the bearer key', async () => {
    const s = await serve(() => ({
      json: {
        id: 'resp_1',
        object: 'response',
        created_at: 1_700_000_000,
        model: 'gpt-4.1-mini',
        status: 'completed',
        output: [
          {
            type: 'message',
            id: 'msg_1',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: 'Hi there.', annotations: [] }],
          },
        ],
        usage: {
          input_tokens: 30,
          output_tokens: 5,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens_details: { reasoning_tokens: 0 },
        },
      },
    }))
    const { result } = await run({
      name: 'gpt',
      model: 'openai:gpt-4.1-mini',
      env: { OPENAI_API_KEY: 'sk-o', OPENAI_BASE_URL: s.url },
    })
    expect(result.output('t')).toBe('Hi there.')
    expect(s.requests[0].path).toBe('/v1/responses')
    expect(s.requests[0].headers.authorization).toBe('Bearer sk-o')
  })

  it('resolveModel names what is wrong: unknown provider, malformed string, missing key', () => {
    expect(() => resolveModel('mystery:x', {})).toThrow(
      expect.objectContaining({
        code: 'MODEL_INVALID',
        message: expect.stringContaining('unknown provider "mystery"'),
      }),
    )
    expect(() => resolveModel('gpt-4', {})).toThrow(expect.objectContaining({ code: 'MODEL_INVALID' }))
    expect(() => resolveModel('openai-compatible:localhost#m', {})).toThrow(
      expect.objectContaining({ code: 'MODEL_INVALID', message: expect.stringContaining('<base URL>#<model>') }),
    )
    expect(() => resolveModel('anthropic:claude-sonnet-4-5', {})).toThrow(
      expect.objectContaining({
        code: 'MODEL_KEY_MISSING',
        details: { provider: 'anthropic', variable: 'ANTHROPIC_API_KEY' },
      }),
    )
  })
})
