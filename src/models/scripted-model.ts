import {
  APICallError,
  type LanguageModelV3,
  type LanguageModelV3CallOptions,
  type LanguageModelV3Content,
  type LanguageModelV3GenerateResult,
} from '@ai-sdk/provider'
import { FlotillaError } from '../core/errors.js'
import type { TokenUsage } from '../core/events.js'
import { estimateTokens } from './metered-model.js'
import { streamOf } from './stream-call.js'

/** One answer of a {@link scriptedModel}. */
export type ScriptStep = {
  /** The answer's text. */
  text?: string
  /** A structured answer: sent as its JSON text (what a model does for structured output). */
  object?: unknown
  /** Tool calls the model makes (the AI SDK runs them and calls the model again). */
  toolCalls?: readonly { name: string; input: unknown }[]
  /** Reasoning text (thinking models). */
  reasoning?: string
  /** Tokens reported; missing figures are estimated (prompt ÷ 4 characters, answer ÷ 4). */
  usage?: Partial<TokenUsage>
  /** Waits this long first (aborted by the call's signal). */
  delayMs?: number
  /** Fails the call: an HTTP status as a provider would (429 and 5xx are retryable; `retryAfterSeconds` sets `Retry-After`), or any error. */
  error?: { status: number; message?: string; retryAfterSeconds?: number } | Error
}

/** A step, or a function choosing one from the call (its prompt, tools…) and its 0-based index. */
export type ScriptEntry = ScriptStep | ((call: LanguageModelV3CallOptions, index: number) => ScriptStep)

/** A {@link scriptedModel}: an AI SDK model that also shows what it was asked. */
export interface ScriptedModel extends LanguageModelV3 {
  /** Every call received, in order. */
  readonly calls: LanguageModelV3CallOptions[]
}

/** Options of {@link scriptedModel}. */
export interface ScriptedModelOptions {
  /** The model id reported (prices and traces use `scripted:<id>`). @default "script" */
  modelId?: string
  /** After the last step, answer with it again instead of failing. @default false */
  repeatLast?: boolean
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop)
      resolve()
    }, ms)
    const stop = (): void => {
      clearTimeout(t)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', stop, { once: true })
  })
}

/**
 * A language model that answers from a script, for tests and offline demos:
 * text, structured objects, tool calls, reasoning, usage, delays and
 * provider errors, in order (or chosen by a function from the call). It is an
 * ordinary AI SDK 6 model, so an agent runs on it exactly as on a real one.
 * Running out of steps fails with `MODEL_CALL_FAILED` naming the call.
 *
 * @example
 * ```ts
 * const model = scriptedModel([
 *   { toolCalls: [{ name: 'add', input: { a: 1, b: 2 } }] },
 *   { text: 'The sum is 3.' },
 * ])
 * ```
 */
export function scriptedModel(script: readonly ScriptEntry[], options: ScriptedModelOptions = {}): ScriptedModel {
  const calls: LanguageModelV3CallOptions[] = []
  const modelId = options.modelId ?? 'script'
  const answer = async (call: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> => {
    const index = calls.length
    calls.push(call)
    const entry = script[index] ?? (options.repeatLast === true ? script.at(-1) : undefined)
    if (entry === undefined) {
      throw new FlotillaError(
        'MODEL_CALL_FAILED',
        `The scripted model "${modelId}" got call ${index + 1} but its script has ${script.length} step(s): add a step, or pass { repeatLast: true }.`,
        { details: { model: modelId, call: index + 1, steps: script.length }, retryable: false },
      )
    }
    const step = typeof entry === 'function' ? entry(call, index) : entry
    if (step.delayMs !== undefined) await sleep(step.delayMs, call.abortSignal)
    if (step.error !== undefined) {
      if (step.error instanceof Error) throw step.error
      const { status, message, retryAfterSeconds } = step.error
      throw new APICallError({
        message: message ?? `scripted HTTP ${status}`,
        url: `scripted://${modelId}`,
        requestBodyValues: {},
        statusCode: status,
        responseHeaders: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
        isRetryable: status === 429 || status >= 500,
      })
    }
    const content: LanguageModelV3Content[] = []
    if (step.reasoning !== undefined) content.push({ type: 'reasoning', text: step.reasoning })
    const text = step.object !== undefined ? JSON.stringify(step.object) : step.text
    if (text !== undefined) content.push({ type: 'text', text })
    step.toolCalls?.forEach((c, k) =>
      content.push({
        type: 'tool-call',
        toolCallId: `call_${index}_${k}`,
        toolName: c.name,
        input: JSON.stringify(c.input),
      }),
    )
    const input = step.usage?.inputTokens ?? estimateTokens(call)
    const output =
      step.usage?.outputTokens ??
      Math.ceil(((text?.length ?? 0) + (step.reasoning?.length ?? 0) + JSON.stringify(step.toolCalls ?? []).length) / 4)
    const cached = step.usage?.cachedInputTokens ?? 0
    const reasoning = step.usage?.reasoningTokens ?? Math.ceil((step.reasoning?.length ?? 0) / 4)
    return {
      content,
      finishReason: {
        unified: step.toolCalls !== undefined && step.toolCalls.length > 0 ? 'tool-calls' : 'stop',
        raw: undefined,
      },
      usage: {
        inputTokens: { total: input, noCache: input - cached, cacheRead: cached, cacheWrite: undefined },
        outputTokens: { total: output, text: output - reasoning, reasoning },
      },
      warnings: [],
      response: { id: `scripted-${index}`, modelId, timestamp: new Date(0) },
    }
  }
  return {
    specificationVersion: 'v3',
    provider: 'scripted',
    modelId,
    supportedUrls: {},
    calls,
    doGenerate: answer,
    doStream: async (call) => streamOf(await answer(call)),
  }
}
