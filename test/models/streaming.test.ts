import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineLlmAgent, type LlmAgentConfig } from '../../src/agents/llm-agent.js'
import { defineTool } from '../../src/agents/tools.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'
import {
  anthropicStream,
  chatStream,
  responsesStream,
  startFakeLlm,
  type FakeHandler,
  type FakeLlm,
  type FakeStream,
  type StreamAnswer,
} from '../helpers/fake-llm.js'

// Agents with `stream: true`, through the real provider packages over real
// HTTP, against a local server speaking server-sent events in the three wire
// formats: tool loops, structured output and reasoning; usage from the last
// event; progress while the text comes; and the faults: a stream cut or
// ended before its finish, a malformed chunk, a stream that hangs (ended by
// the task timeout through ctx.signal), 429 with Retry-After and 500 before
// the stream. A call whose stream broke keeps nothing: the retry makes it
// again, and replays the calls finished before it.

let server: FakeLlm | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

async function serve(handler: FakeHandler): Promise<FakeLlm> {
  server = await startFakeLlm(handler)
  return server
}

type Config = LlmAgentConfig<unknown, unknown, false>

async function run(config: Config, task: Record<string, unknown> = {}) {
  const o = new Orchestrator()
  const events: FlotillaEvent[] = []
  o.on('*', (e) => events.push(e))
  await o.register(defineLlmAgent({ stream: true, ...config }))
  const result = await o.run(
    workflow('one')
      .task('t', { agent: config.name, input: 'Add 1 and 2.', ...task })
      .build(),
  )
  await o.close()
  const of = <T extends FlotillaEvent['type']>(type: T) =>
    events.filter((e): e is Extract<FlotillaEvent, { type: T }> => e.type === type)
  return { result, events, of }
}

const add = defineTool({ name: 'add', input: z.object({ a: z.number(), b: z.number() }), run: ({ a, b }) => a + b })

interface Format {
  name: string
  path: string
  stream(answer: StreamAnswer): FakeStream
  model(url: string): Pick<Config, 'model' | 'env'>
}

const FORMATS: Format[] = [
  {
    name: 'OpenAI chat completions',
    path: '/v1/chat/completions',
    stream: chatStream,
    model: (url) => ({ model: `openai-compatible:${url}#fake-model` }),
  },
  {
    name: 'OpenAI responses',
    path: '/v1/responses',
    stream: responsesStream,
    model: (url) => ({ model: 'openai:gpt-4.1-mini', env: { OPENAI_API_KEY: 'sk-o', OPENAI_BASE_URL: url } }),
  },
  {
    name: 'Anthropic messages',
    path: '/v1/messages',
    stream: anthropicStream,
    model: (url) => ({
      model: 'anthropic:claude-sonnet-4-5',
      env: { ANTHROPIC_API_KEY: 'sk-a', ANTHROPIC_BASE_URL: url },
    }),
  },
]

const toolCall = { toolCalls: [{ id: 'call_1', name: 'add', input: { a: 1, b: 2 } }] }

describe.each(FORMATS)('streaming over $name', (f) => {
  it('runs a tool loop with reasoning: usage from the last event, model.called per call, the text as progress', async () => {
    const s = await serve((_, i) =>
      f.stream(
        i === 0
          ? { ...toolCall, reasoning: 'I should use the add tool.', usage: { input: 120, output: 30, reasoning: 8 } }
          : { text: 'The sum of 1 and 2 is 3.', usage: { input: 160, output: 12, cached: 40 } },
      ),
    )
    const { result, of } = await run({ name: 'calc', ...f.model(s.url), tools: [add] })
    expect(result.output('t')).toBe('The sum of 1 and 2 is 3.')
    expect(s.requests.map((r) => [r.path, r.body.stream])).toEqual([
      [f.path, true],
      [f.path, true],
    ])
    // The tool's result went back with the call's id.
    expect(JSON.stringify(s.requests[1].body)).toContain('call_1')
    const calls = of('model.called')
    expect(calls).toHaveLength(2)
    expect(calls[0]).toMatchObject({
      call: 0,
      replayed: false,
      finishReason: 'tool-calls',
      usage: { inputTokens: 120, outputTokens: 30 },
      answer: expect.arrayContaining([
        { type: 'reasoning', text: 'I should use the add tool.' },
        { type: 'tool-call', callId: 'call_1', tool: 'add', input: '{"a":1,"b":2}' },
      ]),
    })
    expect(calls[1]).toMatchObject({
      call: 1,
      finishReason: 'stop',
      usage: { inputTokens: 160, outputTokens: 12, cachedInputTokens: 40 },
      answer: [{ type: 'text', text: 'The sum of 1 and 2 is 3.' }],
    })
    const progress = of('task.progress')
    expect(progress.at(-1)).toMatchObject({ taskId: 't', note: expect.stringContaining('model call 2: 24 characters') })
    expect(progress.at(-1)!.note).toContain('…The sum of 1 and 2 is 3.')
    expect(progress.every((p) => p.fraction >= 0 && p.fraction < 1)).toBe(true)
  })

  it('returns structured output, correcting the model once, over the stream', async () => {
    const s = await serve((_, i) => f.stream({ text: i === 0 ? '{"title": 7}' : '{"title": "Cats", "words": 3}' }))
    const { result } = await run({
      name: 'titler',
      ...f.model(s.url),
      output: z.object({ title: z.string(), words: z.number() }),
    })
    expect(result.output('t')).toEqual({ title: 'Cats', words: 3 })
    expect(s.requests).toHaveLength(2)
    expect(JSON.stringify(s.requests[1].body)).toContain('does not match the required JSON schema')
  })

  it('a stream cut before its finish is MODEL_CALL_FAILED (retryable, not kept): the retry replays call 0 and makes call 1 again', async () => {
    const s = await serve((_, i) =>
      i === 0 ? f.stream(toolCall) : { ...f.stream({ text: 'It is three.' }), ...(i === 1 ? { cutAfter: 4 } : {}) },
    )
    const { result, of } = await run(
      { name: 'cut', ...f.model(s.url), tools: [add] },
      { retry: { maxAttempts: 2, initialDelayMs: 1 } },
    )
    expect(result.output('t')).toBe('It is three.')
    expect(of('task.retrying')[0].error).toMatchObject({
      code: 'MODEL_CALL_FAILED',
      retryable: true,
      details: { stream: 'truncated' },
    })
    expect(s.requests).toHaveLength(3)
    expect(of('model.called').map((e) => [e.attempt, e.call, e.replayed])).toEqual([
      [1, 0, false],
      [2, 0, true],
      [2, 1, false],
    ])
  })

  it('a stream ended cleanly before its finish event is truncated too', async () => {
    const s = await serve(() => ({ ...f.stream({ text: 'It is three, as you can see.' }), endAfter: 4 }))
    const { result, of } = await run({ name: 'ended', ...f.model(s.url) })
    expect(result.tasks.t.error).toMatchObject({
      code: 'MODEL_CALL_FAILED',
      retryable: true,
      details: { stream: 'truncated' },
    })
    expect(of('model.called')).toHaveLength(0)
  })

  it('a malformed chunk is MODEL_CALL_FAILED, not retryable: the task is not retried', async () => {
    const s = await serve(() => ({ ...f.stream({ text: 'It is three, as you can see.' }), malformedAt: 4 }))
    const { result, of } = await run(
      { name: 'garbled', ...f.model(s.url) },
      { retry: { maxAttempts: 3, initialDelayMs: 1 } },
    )
    expect(result.tasks.t.error).toMatchObject({
      code: 'MODEL_CALL_FAILED',
      retryable: false,
      details: { stream: 'malformed' },
    })
    expect(result.tasks.t.attempts).toBe(1)
    expect(s.requests).toHaveLength(1)
    expect(of('model.called')).toHaveLength(0)
  })

  it('a stream that hangs ends with the task timeout through ctx.signal; the retry makes the call again', async () => {
    const s = await serve((_, i) =>
      i === 0 ? f.stream(toolCall) : { ...f.stream({ text: 'It is three.' }), ...(i === 1 ? { hangAfter: 3 } : {}) },
    )
    const started = Date.now()
    const { result, of } = await run(
      { name: 'hung', ...f.model(s.url), tools: [add] },
      { timeoutMs: 500, retry: { maxAttempts: 2, initialDelayMs: 1 } },
    )
    expect(Date.now() - started).toBeLessThan(5000)
    expect(of('task.retrying')[0].error.code).toBe('TASK_TIMEOUT')
    expect(result.output('t')).toBe('It is three.')
    expect(s.requests).toHaveLength(3)
    expect(of('model.called').map((e) => [e.attempt, e.call, e.replayed])).toEqual([
      [1, 0, false],
      [2, 0, true],
      [2, 1, false],
    ])
  })

  it('a stream that sends nothing after its headers ends with the task timeout', async () => {
    const s = await serve(() => ({ ...f.stream({ text: 'never' }), hangAfter: 0 }))
    const { result } = await run({ name: 'silent', ...f.model(s.url) }, { timeoutMs: 300 })
    expect(result.tasks.t.error?.code).toBe('TASK_TIMEOUT')
  })

  it('retries a 429 after its Retry-After and a 500 before the stream, within maxRetries', async () => {
    const at: number[] = []
    const s = await serve((_, i) => {
      at.push(Date.now())
      if (i === 0) return { json: { error: { message: 'slow down' } }, status: 429, headers: { 'retry-after': '1' } }
      if (i === 1) return { json: { error: { message: 'oops' } }, status: 500, headers: { 'retry-after': '0' } }
      return f.stream({ text: 'fine' })
    })
    const { result, of } = await run({ name: 'patient', ...f.model(s.url) })
    expect(result.output('t')).toBe('fine')
    expect(s.requests).toHaveLength(3)
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(950)
    expect(of('model.called').map((e) => e.call)).toEqual([0])
  })
})

describe('streaming errors', () => {
  it("a provider's error event in the middle of the stream is MODEL_CALL_FAILED, retryable when the provider says it is transient", async () => {
    const anthropic = anthropicStream({ text: 'It is three, as you can see.' })
    const responses = responsesStream({ text: 'It is three, as you can see.' })
    const replies: FakeStream[] = [
      {
        sse: [
          ...anthropic.sse.slice(0, 5),
          { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
        ],
      },
      {
        sse: [
          ...anthropic.sse.slice(0, 5),
          { type: 'error', error: { type: 'invalid_request_error', message: 'Bad' } },
        ],
      },
      {
        sse: [
          ...responses.sse.slice(0, 4),
          { type: 'error', code: 'server_error', message: 'Oops', param: null, sequence_number: 9 },
        ],
      },
    ]
    const s = await serve((_, i) => replies[i])
    const models = [FORMATS[2], FORMATS[2], FORMATS[1]].map((f) => f.model(s.url))
    const errors = []
    for (const [k, m] of models.entries())
      errors.push((await run({ name: `broken-${k}`, ...m, maxRetries: 0 })).result.tasks.t.error)
    expect(errors).toMatchObject([
      { code: 'MODEL_CALL_FAILED', retryable: true, details: { stream: 'provider' } },
      { code: 'MODEL_CALL_FAILED', retryable: false, details: { stream: 'provider' } },
      { code: 'MODEL_CALL_FAILED', retryable: true, details: { stream: 'provider' } },
    ])
    expect(errors[0]?.message).toContain('overloaded_error: Overloaded')
  })

  it('500s past maxRetries are MODEL_CALL_FAILED with the status', async () => {
    const s = await serve(() => ({
      json: { error: { message: 'down' } },
      status: 503,
      headers: { 'retry-after': '0' },
    }))
    const { result } = await run({ name: 'unlucky', model: `openai-compatible:${s.url}#m`, maxRetries: 1 })
    expect(result.tasks.t.error).toMatchObject({ code: 'MODEL_CALL_FAILED', details: { status: 503 } })
    expect(s.requests).toHaveLength(2)
  })

  it('reports progress while the text comes, at most every second', async () => {
    const text = 'A long answer, streamed in small pieces over more than a second. '.repeat(2)
    const s = await serve(() => ({ ...chatStream({ text }), gapMs: 60 }))
    const { result, of } = await run({ name: 'slow', model: `openai-compatible:${s.url}#m` })
    expect(result.output('t')).toBe(text)
    const notes = of('task.progress').map((p) => p.note!)
    expect(notes.length).toBeGreaterThanOrEqual(2)
    expect(notes.length).toBeLessThanOrEqual(4)
    expect(notes[0]).toMatch(/^model call 1: \d+ characters/)
    expect(notes.at(-1)).toContain(`model call 1: ${text.length} characters`)
  })

  it('an Anthropic thinking signature streamed in is sent back with the tool result', async () => {
    const s = await serve((_, i) =>
      anthropicStream(i === 0 ? { ...toolCall, reasoning: 'Adding.' } : { text: 'Three.' }),
    )
    const { result } = await run({
      name: 'thinker',
      model: 'anthropic:claude-sonnet-4-5',
      env: { ANTHROPIC_API_KEY: 'sk-a', ANTHROPIC_BASE_URL: s.url },
      thinking: { budgetTokens: 2048 },
      maxTokens: 4096,
      tools: [add],
    })
    expect(result.output('t')).toBe('Three.')
    expect(s.requests[0].body).toMatchObject({ stream: true, thinking: { type: 'enabled', budget_tokens: 2048 } })
    const assistant = (s.requests[1].body.messages as { role: string; content: unknown[] }[]).find(
      (m) => m.role === 'assistant',
    )
    expect(assistant?.content[0]).toEqual({ type: 'thinking', thinking: 'Adding.', signature: 'sig-stream' })
  })
})
