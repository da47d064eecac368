import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LanguageModelV3, LanguageModelV3StreamPart } from '@ai-sdk/provider'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineLlmAgent, type LlmAgentConfig } from '../../src/agents/llm-agent.js'
import { defineTool } from '../../src/agents/tools.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { recordModel, replayModel } from '../../src/models/cassette.js'
import { scriptedModel, type ScriptEntry } from '../../src/models/scripted-model.js'
import { streamCall, streamOf } from '../../src/models/stream-call.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'

// Streaming without a network: the scripted model and cassettes under
// `stream: true` keep, replay and report exactly what a generated call does;
// the assembly of a stream into an answer; and the numbering of calls when
// the SDK retries one (a failed call keeps nothing and gives its number on).

async function run(config: LlmAgentConfig<unknown, unknown, false>, task: Record<string, unknown> = {}) {
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

let adds = 0
const add = defineTool({
  name: 'add',
  input: z.object({ a: z.number(), b: z.number() }),
  run: ({ a, b }) => (adds++, a + b),
})

const script: ScriptEntry[] = [
  { toolCalls: [{ name: 'add', input: { a: 1, b: 2 } }], reasoning: 'Use add.', usage: { inputTokens: 90 } },
  { text: 'It is 3.', usage: { inputTokens: 120, outputTokens: 4, cachedInputTokens: 30 } },
]

const calls = (events: FlotillaEvent[]) =>
  events
    .filter((e) => e.type === 'model.called')
    .map(({ at: _at, durationMs: _d, runId: _r, ...rest }) => rest as Record<string, unknown>)

describe('stream: true offline', () => {
  it('a streamed call is metered, reported and answered exactly like a generated one, with progress', async () => {
    const plain = await run({ name: 'calc', model: scriptedModel(script), tools: [add] })
    const model = scriptedModel(script)
    const doStream = model.doStream.bind(model)
    let streamed = 0
    const spied: LanguageModelV3 = { ...model, doStream: (o) => (streamed++, doStream(o)) }
    const live = await run({ name: 'calc', model: spied, tools: [add], stream: true })
    expect(streamed).toBe(2)
    expect(live.result.output('t')).toBe('It is 3.')
    expect(calls(live.events)).toEqual(calls(plain.events))
    expect(live.result.summary.model).toEqual(plain.result.summary.model)
    const progress = live.events.filter((e) => e.type === 'task.progress')
    expect(progress.map((p) => p.note)).toEqual([
      'model call 1: 0 characters (thinking: 8)',
      'model call 2: 8 characters …It is 3.',
    ])
    expect(plain.events.some((e) => e.type === 'task.progress')).toBe(false)
  })

  it('a retry replays the streamed calls the failed attempt finished: none is made twice', async () => {
    adds = 0
    const model = scriptedModel([...script.slice(0, 1), { error: new Error('boom') }, script[1]])
    const { result, events } = await run(
      { name: 'durable', model, tools: [add], stream: true, maxRetries: 0 },
      { retry: { maxAttempts: 2, initialDelayMs: 1 } },
    )
    expect(result.output('t')).toBe('It is 3.')
    expect(model.calls).toHaveLength(3)
    expect(adds).toBe(1)
    expect(events.filter((e) => e.type === 'model.called').map((e) => [e.attempt, e.call, e.replayed])).toEqual([
      [1, 0, false],
      [2, 0, true],
      [2, 1, false],
    ])
  })

  it('a call retried by the SDK keeps its number, so a later attempt replays the right answers', async () => {
    adds = 0
    const fail = { error: { status: 500, retryAfterSeconds: 0 } }
    const model = scriptedModel([fail, script[0], fail, fail, script[1]])
    for (const stream of [false, true]) {
      adds = 0
      model.calls.length = 0
      const { result, events } = await run(
        { name: 'numbered', model, tools: [add], maxRetries: 1, stream },
        { retry: { maxAttempts: 2, initialDelayMs: 1 } },
      )
      expect(result.output('t')).toBe('It is 3.')
      expect(adds).toBe(1)
      expect(events.filter((e) => e.type === 'model.called').map((e) => [e.attempt, e.call, e.replayed])).toEqual([
        [1, 0, false],
        [2, 0, true],
        [2, 1, false],
      ])
    }
  })

  it('a cassette records streamed calls and serves them to streaming and generating agents alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-stream-'))
    try {
      const file = join(dir, 'calc.json')
      const first = await run({
        name: 'calc',
        model: recordModel(scriptedModel(script), file),
        tools: [add],
        stream: true,
      })
      expect(first.result.output('t')).toBe('It is 3.')
      for (const stream of [true, false]) {
        const again = await run({ name: 'calc', model: replayModel(file), tools: [add], stream })
        expect(again.result.output('t')).toBe('It is 3.')
        expect(calls(again.events).map((c) => c.usage)).toEqual(calls(first.events).map((c) => c.usage))
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a stream option that is not a boolean', () => {
    expect(() => defineLlmAgent({ name: 'x', model: scriptedModel([]), stream: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'AGENT_INVALID', message: expect.stringContaining('stream') }),
    )
  })
})

describe('streamCall', () => {
  const finish: LanguageModelV3StreamPart = {
    type: 'finish',
    finishReason: { unified: 'stop', raw: 'stop' },
    usage: {
      inputTokens: { total: 5, noCache: 5, cacheRead: 0, cacheWrite: undefined },
      outputTokens: { total: 3, text: 3, reasoning: undefined },
    },
  }
  const of = (parts: LanguageModelV3StreamPart[]): LanguageModelV3 => ({
    ...scriptedModel([]),
    doStream: async () => ({
      stream: new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(p)
          c.close()
        },
      }),
    }),
  })

  it('joins deltas in order, keeps the last provider metadata of a part, and turns an answer back into the same stream', async () => {
    const sig = { anthropic: { signature: 's' } }
    const parts: LanguageModelV3StreamPart[] = [
      { type: 'stream-start', warnings: [] },
      { type: 'response-metadata', id: 'r1', modelId: 'm' },
      { type: 'reasoning-start', id: 'a' },
      { type: 'reasoning-delta', id: 'a', delta: 'Hm' },
      { type: 'text-start', id: 'b' },
      { type: 'reasoning-delta', id: 'a', delta: '', providerMetadata: sig },
      { type: 'reasoning-end', id: 'a' },
      { type: 'text-delta', id: 'b', delta: 'Hel' },
      { type: 'raw', rawValue: {} },
      { type: 'text-delta', id: 'b', delta: 'lo' },
      { type: 'text-end', id: 'b' },
      { type: 'tool-input-start', id: 'c', toolName: 't' },
      { type: 'tool-call', toolCallId: 'c', toolName: 't', input: '{}' },
      finish,
    ]
    const seen: unknown[] = []
    const answer = await streamCall(of(parts), { prompt: [] }, (p) => seen.push(p))
    expect(answer).toMatchObject({
      content: [
        { type: 'reasoning', text: 'Hm', providerMetadata: sig },
        { type: 'text', text: 'Hello' },
        { type: 'tool-call', toolCallId: 'c', toolName: 't', input: '{}' },
      ],
      finishReason: { unified: 'stop' },
      response: { id: 'r1', modelId: 'm' },
    })
    expect(seen).toEqual([
      { text: 0, reasoning: 2, tail: '' },
      { text: 5, reasoning: 2, tail: 'Hello' },
    ])
    const again = await streamCall({ ...of([]), doStream: async () => streamOf(answer) }, { prompt: [] })
    expect(again).toEqual(answer)
  })

  it('a stream without its finish, and one whose finish was made up by the provider, are truncated', async () => {
    const made: LanguageModelV3StreamPart = {
      type: 'finish',
      finishReason: { unified: 'other', raw: undefined },
      usage: {
        inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: undefined, text: undefined, reasoning: undefined },
      },
    }
    for (const parts of [[{ type: 'text-start', id: 'x' }] as LanguageModelV3StreamPart[], [made]])
      await expect(streamCall(of(parts), { prompt: [] })).rejects.toMatchObject({
        code: 'MODEL_CALL_FAILED',
        retryable: true,
        details: { stream: 'truncated' },
      })
  })

  it('an abort of the call cancels a stream that sends nothing and throws its reason', async () => {
    let cancelled = false
    const hung: LanguageModelV3 = {
      ...of([]),
      doStream: async () => ({ stream: new ReadableStream({ cancel: () => void (cancelled = true) }) }),
    }
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('timed out')), 20)
    await expect(streamCall(hung, { prompt: [], abortSignal: controller.signal })).rejects.toThrow('timed out')
    expect(cancelled).toBe(true)
  })
})
