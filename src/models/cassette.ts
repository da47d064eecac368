import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from '@ai-sdk/provider'
import { FlotillaError } from '../core/errors.js'
import { fromJournal, toJournal, withGenerate, type JournaledCall } from './metered-model.js'
import { streamCall, streamOf } from './stream-call.js'

/** A cassette file: the requests a model received and its answers, in order. */
export interface Cassette {
  version: 1
  /** `provider:modelId` of the recorded model. */
  model: string
  entries: { request: unknown; response: JournaledCall }[]
}

/** What of a call decides its answer: the prompt, tools and settings (not the signal or headers). */
function requestOf(o: LanguageModelV3CallOptions): unknown {
  return JSON.parse(
    JSON.stringify({
      prompt: o.prompt,
      tools: o.tools,
      toolChoice: o.toolChoice,
      responseFormat: o.responseFormat,
      maxOutputTokens: o.maxOutputTokens,
      temperature: o.temperature,
      topP: o.topP,
      stopSequences: o.stopSequences,
      seed: o.seed,
    }),
  ) as unknown
}

function read(file: string): Cassette {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    const why = existsSync(file)
      ? `is not JSON (${(e as Error).message})`
      : 'does not exist: record it first with recordModel'
    throw new FlotillaError('FILE_NOT_FOUND', `The cassette ${file} ${why}.`, { details: { file } })
  }
  const c = parsed as Partial<Cassette>
  if (c.version !== 1 || !Array.isArray(c.entries))
    throw new FlotillaError('VALIDATION_FAILED', `${file} is not a model cassette (version 1 with entries).`, {
      details: { file },
    })
  return c as Cassette
}

/**
 * Wraps a model so that every call and its answer are written to `file` (a
 * cassette, JSON, rewritten after each call), for {@link replayModel} to
 * serve later without the model: record once against the real endpoint,
 * then test offline. A streaming call (`doStream`) is recorded once its
 * stream finished, as a generated answer, and handed on as a stream.
 *
 * @example
 * ```ts
 * const model = recordModel(resolveModel('openai:gpt-4.1-mini'), 'test/cassettes/summary.json')
 * ```
 */
export function recordModel(model: LanguageModelV3, file: string): LanguageModelV3 {
  const cassette: Cassette = { version: 1, model: `${model.provider}:${model.modelId}`, entries: [] }
  const keep = (options: LanguageModelV3CallOptions, result: LanguageModelV3GenerateResult, started: number): void => {
    cassette.entries.push({ request: requestOf(options), response: toJournal(result, performance.now() - started) })
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, `${JSON.stringify(cassette, null, 2)}\n`)
  }
  return withGenerate(
    model,
    async (options) => {
      const started = performance.now()
      const result = await model.doGenerate(options)
      keep(options, result, started)
      return result
    },
    // A streamed answer is recorded once finished, like a generated one (and replayed as a stream).
    async (options) => {
      const started = performance.now()
      const result = await streamCall(model, options)
      keep(options, result, started)
      return streamOf(result)
    },
  )
}

/**
 * A model that answers from a cassette written by {@link recordModel}: each
 * call gets the answer recorded for the same request (prompt, tools,
 * settings), each recorded answer used once, in order (to `doStream` as a
 * stream). A request that was not recorded fails with `MODEL_CALL_FAILED`
 * naming it.
 *
 * @example
 * ```ts
 * const model = replayModel('test/cassettes/summary.json')
 * ```
 */
export function replayModel(file: string): LanguageModelV3 & { readonly remaining: number } {
  const cassette = read(file)
  const keys = cassette.entries.map((e) => JSON.stringify(e.request))
  const used = new Set<number>()
  const [provider, ...rest] = cassette.model.split(':')
  let calls = 0
  const answer = async (options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> => {
    calls++
    const key = JSON.stringify(requestOf(options))
    const i = keys.findIndex((k, n) => !used.has(n) && k === key)
    if (i < 0) {
      const last = options.prompt.at(-1)
      const excerpt = JSON.stringify(last?.content ?? '').slice(0, 200)
      throw new FlotillaError(
        'MODEL_CALL_FAILED',
        `The cassette ${file} has no recorded answer for call ${calls} (last message: ${excerpt}); the prompt, tools or settings changed since it was recorded: record it again with recordModel.`,
        {
          details: { file, call: calls },
          retryable: false,
        },
      )
    }
    used.add(i)
    return fromJournal(cassette.entries[i].response)
  }
  return {
    specificationVersion: 'v3',
    provider: provider ?? 'cassette',
    modelId: rest.join(':') || 'cassette',
    supportedUrls: {},
    get remaining() {
      return keys.length - used.size
    },
    // A recorded answer is served to a streaming call as a stream.
    doGenerate: answer,
    doStream: async (options) => streamOf(await answer(options)),
  }
}
