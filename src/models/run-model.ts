import { APICallError } from '@ai-sdk/provider'
import type * as AiSdk from 'ai'
import type { ModelMessage, ToolSet } from 'ai'
import type { z } from 'zod'
import { FlotillaError, isFlotillaError, toFlotillaError } from '../core/errors.js'
import type { LanguageModel } from './providers.js'
import { sdkSchema } from './schemas.js'

/** A tool offered to the model. */
export interface ModelTool {
  name: string
  description?: string
  /** Schema of the arguments (zod); without one, `jsonSchema`, else any JSON object. */
  input?: z.ZodType
  /** Schema of the arguments as JSON Schema (MCP tools). */
  jsonSchema?: Record<string, unknown>
  /** Runs the call (`callId`: the model's id of it); a throw is fed back to the model as the tool's result `{ error: { code, message } }`. */
  execute(input: unknown, call: { signal: AbortSignal; callId: string }): Promise<unknown>
}

/** How hard a thinking model thinks. */
export interface ThinkingOptions {
  /** Anthropic: tokens the model may spend thinking (≥ 1024). */
  budgetTokens?: number
  /** OpenAI reasoning models: `low`, `medium` or `high`. */
  effort?: 'low' | 'medium' | 'high'
}

/** What {@link runModel} runs. */
export interface ModelRun {
  /** The agent on whose behalf (named in errors). */
  agent: string
  model: LanguageModel
  system?: string
  prompt: string
  tools: readonly ModelTool[]
  /** Structured output: the answer must match it. */
  output?: z.ZodType
  temperature?: number
  maxTokens?: number
  /** Most model calls of the tool loop. */
  maxSteps: number
  /** Retries of one call on 429, 5xx and network errors (honouring `Retry-After`). */
  maxRetries: number
  thinking?: ThinkingOptions
  signal: AbortSignal
}

/** What a {@link runModel} produced. */
export interface ModelRunResult {
  text: string
  /** The structured answer, with `output`. */
  output?: unknown
  /** The model's reasoning, where the provider returns it. */
  reasoning?: string
  /** Model calls made (tool loop steps), the structured-output retry included. */
  steps: number
}

function providerOptions(thinking: ThinkingOptions): Record<string, Record<string, never>> {
  const out: Record<string, unknown> = {}
  if (thinking.budgetTokens !== undefined)
    out.anthropic = { thinking: { type: 'enabled', budgetTokens: thinking.budgetTokens } }
  if (thinking.effort !== undefined) out.openai = { reasoningEffort: thinking.effort }
  return out as Record<string, Record<string, never>>
}

/** The AI SDK, loaded on the first model call: a process that runs no language-model agent never loads it. */
type Ai = typeof AiSdk
let aiModule: Promise<Ai> | undefined
/** The AI SDK once loaded: later calls need not wait a turn for it. */
let loaded: Ai | undefined
function loadAi(): Promise<Ai> {
  return (aiModule ??= import('ai'))
}

/** The arguments of a tool that gives no schema: any JSON object. */
/** The SDK's stop conditions by step count, made once each (a condition is a pure function of the steps). */
const stopConditions = new Map<number, ReturnType<Ai['stepCountIs']>>()
function stopAfter(stepCountIs: Ai['stepCountIs'], steps: number): ReturnType<Ai['stepCountIs']> {
  let c = stopConditions.get(steps)
  if (c === undefined) stopConditions.set(steps, (c = stepCountIs(steps)))
  return c
}

const ANY_OBJECT = { type: 'object', additionalProperties: true }

function toolSet(ai: Ai, tools: readonly ModelTool[]): ToolSet {
  const { tool } = ai
  const set: ToolSet = {}
  for (const t of tools) {
    set[t.name] = tool({
      ...(t.description === undefined ? {} : { description: t.description }),
      // Wrapped once per schema (see schemas.ts): the SDK would convert it to JSON Schema again on every call.
      inputSchema: t.input !== undefined ? sdkSchema(ai, t.input) : sdkSchema(ai, t.jsonSchema ?? ANY_OBJECT, true),
      execute: async (input: unknown, { abortSignal, toolCallId }) => {
        try {
          return await t.execute(input, { signal: abortSignal ?? new AbortController().signal, callId: toolCallId })
        } catch (e) {
          if (abortSignal?.aborted) throw e
          const error = toFlotillaError(e, 'TASK_FAILED')
          return { error: { code: error.code, message: error.message } }
        }
      },
    })
  }
  return set
}

/** A model failure as a FlotillaError with the code that says what to do. */
export function modelError(e: unknown, agent: string, model: LanguageModel, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason ?? e
  const last =
    typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AI_RetryError'
      ? (e as { lastError: unknown }).lastError
      : e
  if (isFlotillaError(last)) {
    // A broken stream (stream-call) is told by the model only: name the agent too.
    if (last.details.stream === undefined || last.details.agent !== undefined) return last
    return new FlotillaError(last.code, `Agent "${agent}": ${last.message[0].toLowerCase()}${last.message.slice(1)}`, {
      details: { agent, ...last.details },
      cause: last.cause,
      retryable: last.retryable,
    })
  }
  const name = `${model.provider}:${model.modelId}`
  if (APICallError.isInstance(last)) {
    const status = last.statusCode
    if (status === 401 || status === 403) {
      return new FlotillaError(
        'MODEL_AUTH_FAILED',
        `Agent "${agent}": ${name} refused the API key (HTTP ${status}): check the key and that it may use this model.`,
        { details: { agent, model: name, status }, cause: last },
      )
    }
    return new FlotillaError(
      'MODEL_CALL_FAILED',
      `Agent "${agent}": the call to ${name} failed${status === undefined ? '' : ` with HTTP ${status}`}: ${last.message}`,
      {
        details: { agent, model: name, ...(status === undefined ? {} : { status }) },
        cause: last,
        retryable: last.isRetryable || status === undefined,
      },
    )
  }
  const message = last instanceof Error ? last.message : String(last)
  return new FlotillaError('MODEL_CALL_FAILED', `Agent "${agent}": the call to ${name} failed: ${message}`, {
    details: { agent, model: name },
    cause: last,
  })
}

/**
 * Runs a model with tools until it answers: each tool call is executed
 * (several in parallel when the model asks for several) and its result sent
 * back, up to `maxSteps` model calls (`MODEL_STEP_LIMIT` when the model
 * still calls tools then). With `output`, the answer must match the schema:
 * an answer that does not is sent back once with what was wrong, then it is
 * `MODEL_OUTPUT_INVALID`.
 */
export async function runModel(o: ModelRun): Promise<ModelRunResult> {
  // The AI SDK prints its warnings on the console; agents report them as task.log lines instead (see metered-model).
  // A value set by the application is kept.
  const g = globalThis as { AI_SDK_LOG_WARNINGS?: unknown }
  if (g.AI_SDK_LOG_WARNINGS === undefined) g.AI_SDK_LOG_WARNINGS = false
  const ai = loaded ?? (loaded = await loadAi())
  const { generateText, NoObjectGeneratedError, Output, stepCountIs } = ai
  // Built field by field, not from conditional spreads: each spread of a fresh literal is an allocation, per call.
  const request: Record<string, unknown> = {
    model: o.model,
    stopWhen: stopAfter(stepCountIs, o.maxSteps),
    maxRetries: o.maxRetries,
    abortSignal: o.signal,
  }
  if (o.system !== undefined) request.system = o.system
  if (o.tools.length > 0) request.tools = toolSet(ai, o.tools)
  if (o.temperature !== undefined) request.temperature = o.temperature
  if (o.maxTokens !== undefined) request.maxOutputTokens = o.maxTokens
  if (o.output !== undefined) request.output = Output.object({ schema: sdkSchema(ai, o.output) })
  if (o.thinking !== undefined) request.providerOptions = providerOptions(o.thinking)
  let messages: ModelMessage[] = [{ role: 'user', content: o.prompt }]
  let steps = 0
  for (let round = 0; ; round++) {
    try {
      request.messages = messages
      const result = await generateText(request as unknown as Parameters<typeof generateText>[0])
      steps += result.steps.length
      if (result.finishReason === 'tool-calls') {
        throw new FlotillaError(
          'MODEL_STEP_LIMIT',
          `Agent "${o.agent}" reached its limit of ${o.maxSteps} model calls while the model was still calling tools; raise maxSteps or narrow the task.`,
          { details: { agent: o.agent, maxSteps: o.maxSteps } },
        )
      }
      // Field by field, not from conditional spreads (each a fresh object, on every call).
      const done: ModelRunResult = { text: result.text, steps }
      if (o.output !== undefined) done.output = result.output as unknown
      const reasoning = result.reasoningText
      if (reasoning) done.reasoning = reasoning
      return done
    } catch (e) {
      if (!NoObjectGeneratedError.isInstance(e) || o.signal.aborted) throw modelError(e, o.agent, o.model, o.signal)
      steps += 1
      const why = e.cause instanceof Error ? e.cause.message : e.message
      if (round >= 1) {
        throw new FlotillaError(
          'MODEL_OUTPUT_INVALID',
          `Agent "${o.agent}": the model's answer does not match the output schema, also after being told so: ${why.slice(0, 500)}`,
          { details: { agent: o.agent, text: (e.text ?? '').slice(0, 2000) } },
        )
      }
      messages = [
        ...messages,
        { role: 'assistant', content: e.text ?? '' },
        {
          role: 'user',
          content: `That answer does not match the required JSON schema: ${why.slice(0, 1000)}\nAnswer again with JSON that matches the schema, and nothing else.`,
        },
      ]
    }
  }
}
