import {
  APICallError,
  InvalidResponseDataError,
  JSONParseError,
  TypeValidationError,
  type LanguageModelV3,
  type LanguageModelV3CallOptions,
  type LanguageModelV3Content,
  type LanguageModelV3GenerateResult,
  type LanguageModelV3Reasoning,
  type LanguageModelV3StreamPart,
  type LanguageModelV3StreamResult,
  type LanguageModelV3Text,
  type SharedV3Warning,
} from '@ai-sdk/provider'
import { FlotillaError } from '../core/errors.js'

/** What a streaming call has written so far (see {@link streamCall}). */
export interface StreamProgress {
  /** Characters of answer text. */
  text: number
  /** Characters of reasoning (thinking models). */
  reasoning: number
  /** The last characters of the text (at most 80, line breaks as spaces). */
  tail: string
}

/** How often {@link streamCall} reports progress at most, in milliseconds (the first text and the end always are). */
export const STREAM_PROGRESS_INTERVAL_MS = 1000

/** How a stream went wrong: cut before its finish, a chunk that cannot be read, or an error event of the provider. */
type Fault = 'truncated' | 'malformed' | 'provider'

/** Error types a provider reports in a stream that are worth trying again. */
const TRANSIENT = /overloaded|rate_limit|server_error|api_error|internal|timeout|unavailable/i

/** An error's message and those of its causes ("Failed to process successful response: terminated: other side closed"). */
function message(e: unknown): string {
  const out: string[] = []
  for (let c = e, depth = 0; c !== undefined && c !== null && depth < 4; depth++) {
    const m = (c as { message?: unknown }).message
    const text = (typeof m === 'string' ? m : (JSON.stringify(c) ?? String(c))).replace(/\.+$/, '')
    if (!out.some((o) => o.includes(text))) out.push(text)
    c = (c as { cause?: unknown }).cause
  }
  return out.join(': ')
}

/** What an error part of the stream means, and whether trying the call again can help. */
function classify(error: unknown): { fault: Fault; retryable: boolean; why: string } {
  if (JSONParseError.isInstance(error))
    return { fault: 'malformed', retryable: false, why: `a chunk is not JSON: ${message(error)}` }
  if (TypeValidationError.isInstance(error))
    return { fault: 'malformed', retryable: false, why: `a chunk is not of the wire format: ${message(error)}` }
  // openai-compatible reports a stream that ended without its last chunk this way.
  if (InvalidResponseDataError.isInstance(error) && /finish reason/i.test(error.message))
    return { fault: 'truncated', retryable: true, why: message(error) }
  if (APICallError.isInstance(error)) return { fault: 'provider', retryable: error.isRetryable, why: message(error) }
  // An error event of the provider ({ type, message } from Anthropic; OpenAI's with code and isRetryable).
  const event = (error as { type?: unknown; code?: unknown; isRetryable?: unknown } | null) ?? {}
  const type = [event.code, event.type].find((v): v is string => typeof v === 'string' && v !== 'error') ?? ''
  const retryable = typeof event.isRetryable === 'boolean' ? event.isRetryable : TRANSIENT.test(type)
  return { fault: 'provider', retryable, why: `${type ? `${type}: ` : ''}${message(error)}` }
}

function failure(name: string, fault: Fault, retryable: boolean, why: string, seen: number, cause?: unknown) {
  const what = {
    truncated: `ended before its finish event (after ${seen} parts)`,
    malformed: 'sent a chunk that cannot be read',
    provider: 'reported an error in the middle of the answer',
  }[fault]
  return new FlotillaError(
    'MODEL_CALL_FAILED',
    `The stream of ${name} ${what}: ${why.slice(0, 500)}. The call is not finished: nothing of it is kept.`,
    { details: { model: name, stream: fault, parts: seen }, retryable, ...(cause === undefined ? {} : { cause }) },
  )
}

/**
 * Makes one call with the model's `doStream` and assembles the answer as
 * its `doGenerate` would return it (content in order, text and reasoning
 * joined, the provider metadata of their last part kept, as `streamText`
 * does), reporting the text as it comes through `onProgress` (at most every
 * `intervalMs`, and at the end). The answer is returned only when the
 * provider's finish event came: a stream cut before it (`truncated`,
 * retryable), a chunk that is not JSON or not of the wire format
 * (`malformed`, not retryable) and an error event of the provider
 * (`provider`, retryable when the provider says it is transient) are
 * `MODEL_CALL_FAILED` with `details.stream` saying which. When
 * `options.abortSignal` aborts, the stream is cancelled and the signal's
 * reason thrown.
 */
export async function streamCall(
  model: LanguageModelV3,
  options: LanguageModelV3CallOptions,
  onProgress?: (progress: StreamProgress) => void,
  intervalMs = STREAM_PROGRESS_INTERVAL_MS,
): Promise<LanguageModelV3GenerateResult> {
  const name = `${model.provider}:${model.modelId}`
  const signal = options.abortSignal
  const { stream, request, response } = await model.doStream(options)
  const reader = stream.getReader()
  const cancel = (): void => void reader.cancel(signal?.reason).catch(() => undefined)
  signal?.addEventListener('abort', cancel, { once: true })
  if (signal?.aborted) cancel()
  const content: LanguageModelV3Content[] = []
  const open = new Map<string, LanguageModelV3Text | LanguageModelV3Reasoning>()
  let warnings: SharedV3Warning[] = []
  let metadata: Omit<Extract<LanguageModelV3StreamPart, { type: 'response-metadata' }>, 'type'> = {}
  let finish: Extract<LanguageModelV3StreamPart, { type: 'finish' }> | undefined
  let seen = 0
  let text = ''
  let reasoning = 0
  let reportedAt = -Infinity
  let reported = 0
  const report = (force = false): void => {
    if (onProgress === undefined || text.length + reasoning === reported) return
    const now = performance.now()
    if (!force && now - reportedAt < intervalMs) return
    reportedAt = now
    reported = text.length + reasoning
    onProgress({ text: text.length, reasoning, tail: text.slice(-80).replace(/\s+/g, ' ') })
  }
  try {
    while (finish === undefined) {
      let next: Awaited<ReturnType<typeof reader.read>>
      try {
        next = await reader.read()
      } catch (e) {
        if (signal?.aborted) throw signal.reason
        throw failure(name, 'truncated', true, `the connection failed: ${message(e)}`, seen, e)
      }
      if (signal?.aborted) throw signal.reason
      if (next.done) break
      const part = next.value
      seen++
      switch (part.type) {
        case 'text-start':
        case 'reasoning-start':
        case 'text-delta':
        case 'reasoning-delta':
        case 'text-end':
        case 'reasoning-end': {
          const type = part.type.startsWith('text') ? 'text' : 'reasoning'
          const key = `${type}:${part.id}`
          let c = open.get(key)
          if (c === undefined) {
            c = type === 'text' ? { type: 'text', text: '' } : { type: 'reasoning', text: '' }
            open.set(key, c)
            content.push(c)
          }
          if (part.providerMetadata !== undefined) c.providerMetadata = part.providerMetadata
          if (part.type === 'text-delta' || part.type === 'reasoning-delta') {
            c.text += part.delta
            if (type === 'text') text += part.delta
            else reasoning += part.delta.length
            report()
          } else if (part.type.endsWith('-end')) open.delete(key)
          break
        }
        case 'tool-result':
          // A preliminary result (a partial image) is superseded by the final one.
          if (part.preliminary !== true) content.push(part)
          break
        case 'tool-call':
        case 'tool-approval-request':
        case 'source':
        case 'file':
          content.push(part)
          break
        case 'stream-start':
          warnings = part.warnings
          break
        case 'response-metadata': {
          const { type: _, ...rest } = part
          metadata = { ...metadata, ...rest }
          break
        }
        case 'finish':
          finish = part
          break
        case 'error': {
          const c = classify(part.error)
          throw failure(name, c.fault, c.retryable, c.why, seen, part.error)
        }
        default: // raw chunks and tool-input previews: the tool-call part carries the whole call
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel)
    // After the finish event nothing is left to read (Anthropic's comes before the end of the body): close it.
    cancel()
  }
  // Without its last event, a provider may still end the stream with a finish of its own making: no reason, no usage.
  if (
    finish === undefined ||
    (finish.finishReason.unified === 'other' &&
      finish.finishReason.raw === undefined &&
      finish.usage.outputTokens.total === undefined)
  )
    throw failure(name, 'truncated', true, 'the connection was closed', seen)
  report(true)
  return {
    content,
    finishReason: finish.finishReason,
    usage: finish.usage,
    ...(finish.providerMetadata === undefined ? {} : { providerMetadata: finish.providerMetadata }),
    warnings,
    ...(request === undefined ? {} : { request }),
    response: { ...metadata, ...(response?.headers === undefined ? {} : { headers: response.headers }) },
  }
}

/** A finished answer as a stream of parts again, for `doStream` of a model that answers whole (a replay, a script). */
export function streamOf(result: LanguageModelV3GenerateResult): LanguageModelV3StreamResult {
  const parts: LanguageModelV3StreamPart[] = [{ type: 'stream-start', warnings: result.warnings }]
  const { headers, body: _, ...metadata } = result.response ?? {}
  if (Object.keys(metadata).length > 0) parts.push({ type: 'response-metadata', ...metadata })
  result.content.forEach((c, k) => {
    const id = String(k)
    const meta = c.type === 'text' || c.type === 'reasoning' ? c.providerMetadata : undefined
    const pm = meta === undefined ? {} : { providerMetadata: meta }
    if (c.type === 'text')
      parts.push(
        { type: 'text-start', id, ...pm },
        { type: 'text-delta', id, delta: c.text },
        { type: 'text-end', id, ...pm },
      )
    else if (c.type === 'reasoning')
      parts.push(
        { type: 'reasoning-start', id, ...pm },
        { type: 'reasoning-delta', id, delta: c.text },
        { type: 'reasoning-end', id, ...pm },
      )
    else parts.push(c)
  })
  parts.push({
    type: 'finish',
    finishReason: result.finishReason,
    usage: result.usage,
    ...(result.providerMetadata === undefined ? {} : { providerMetadata: result.providerMetadata }),
  })
  return {
    stream: new ReadableStream({
      start(controller) {
        for (const p of parts) controller.enqueue(p)
        controller.close()
      },
    }),
    ...(result.request === undefined ? {} : { request: result.request }),
    ...(headers === undefined ? {} : { response: { headers } }),
  }
}
