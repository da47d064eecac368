import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3GenerateResult,
  LanguageModelV3StreamResult,
} from '@ai-sdk/provider'
import type { ModelAnswerPart, TokenUsage } from '../core/events.js'
import { keepJsonText, parseKeepingText } from '../core/json-text.js'
import { providerOf } from './providers.js'
import { throttle } from './rate-limits.js'
import { streamCall, streamOf, type StreamProgress } from './stream-call.js'
import { usageOf } from './usage.js'

/** A model call's answer as the journal keeps it: JSON, without headers and raw bodies. */
export interface JournaledCall {
  content: LanguageModelV3GenerateResult['content']
  finishReason: LanguageModelV3GenerateResult['finishReason']
  usage: LanguageModelV3GenerateResult['usage']
  providerMetadata?: LanguageModelV3GenerateResult['providerMetadata']
  warnings: LanguageModelV3GenerateResult['warnings']
  response?: { id?: string; modelId?: string; timestamp?: number }
  durationMs: number
}

/** What a {@link meteredModel} asks of the agent running it. */
export interface ModelMeter {
  /** Runs a durable step (`ctx.step`): the journal of the task. */
  step(name: string, fn: () => Promise<JournaledCall>): Promise<JournaledCall>
  /** Called before a call is really made, with its worst case; throws to refuse it (`BUDGET_EXCEEDED`). */
  beforeCall(worst: { inputTokens: number; outputTokens: number }): void
  /**
   * Called after {@link ModelMeter.beforeCall}: holds the worst case against a
   * budget shared with others (an agent tree's), or rejects to refuse the call.
   * The hold is settled with the call's usage once it answers, released if it fails.
   */
  hold?(worst: { inputTokens: number; outputTokens: number }): Promise<ModelCallHold | undefined>
  /** Called after each call, made or replayed from the journal. */
  afterCall(call: {
    index: number
    usage: TokenUsage
    durationMs: number
    replayed: boolean
    finishReason: string
    answer: ModelAnswerPart[]
    warnings: readonly unknown[]
    /** With `full`: the messages sent, as JSON. */
    prompt?: unknown[]
  }): void
  /** Debug mode: answers kept whole in reports, and each report carries the prompt sent. */
  full?: boolean
  /** Make each call streaming (`doStream`): what is kept, replayed and reported is the same as for a generated answer. */
  stream?: boolean
  /** While a streaming call runs: what it has written so far, throttled (see {@link streamCall}). */
  progress?(progress: StreamCallProgress): void
}

/** A call held by {@link ModelMeter.hold}. */
export interface ModelCallHold {
  /** The call answered with this usage. */
  settle(usage: TokenUsage): Promise<void>
  /** The call failed. */
  release(): Promise<void>
}

/** What {@link ModelMeter.progress} is told. */
export interface StreamCallProgress extends StreamProgress {
  /** The call's number in the task, from 0. */
  index: number
  /** The share of the call's output allowance (`maxOutputTokens`, else 4,096 tokens) written so far, at most 0.99. */
  fraction: number
}

/** Tokens an answer may have when the caller set no `maxOutputTokens`. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096

/**
 * A rough count of the tokens of a prompt and its tools: four characters a
 * token, the usual rule for English text with these tokenizers. It only
 * sizes the worst case a budget is checked against before a call.
 */
export function estimateTokens(options: LanguageModelV3CallOptions): number {
  let chars = JSON.stringify(options.prompt).length
  if (options.tools !== undefined) chars += JSON.stringify(options.tools).length
  if (options.responseFormat !== undefined) chars += JSON.stringify(options.responseFormat).length
  return Math.ceil(chars / 4)
}

/**
 * The worst case of a call, checked against budgets and rate limits before it
 * is made: its prompt is counted only when one of them asks (it is serialized
 * to be counted). A class, not a literal with a getter: no closure per call.
 */
class WorstCase {
  private input: number | undefined
  readonly outputTokens: number
  constructor(private readonly options: LanguageModelV3CallOptions) {
    this.outputTokens = options.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS
  }
  get inputTokens(): number {
    return (this.input ??= estimateTokens(this.options))
  }
}

const NO_WARNINGS: readonly unknown[] = Object.freeze([])

/** The kept fields of a generate result, by hand (no conditional spreads: each would be a fresh object per call). */
function journaled(r: LanguageModelV3GenerateResult, durationMs: number): JournaledCall {
  let response: JournaledCall['response']
  if (r.response !== undefined) {
    response = {}
    if (r.response.id !== undefined) response.id = r.response.id
    if (r.response.modelId !== undefined) response.modelId = r.response.modelId
    if (r.response.timestamp !== undefined) response.timestamp = r.response.timestamp.getTime()
  }
  const call: JournaledCall = {
    content: r.content,
    finishReason: r.finishReason,
    usage: r.usage,
    warnings: r.warnings,
    durationMs,
  }
  if (r.providerMetadata !== undefined) call.providerMetadata = r.providerMetadata
  if (response !== undefined) call.response = response
  return call
}

/** A generate result as the journal (and a cassette) keeps it: through JSON, exactly what a replay gets back. */
export function toJournal(r: LanguageModelV3GenerateResult, durationMs: number): JournaledCall {
  return parseKeepingText(JSON.stringify(journaled(r, durationMs))) as JournaledCall
}

/** A kept answer as a generate result again. */
export function fromJournal(j: JournaledCall): LanguageModelV3GenerateResult {
  const kept = j.response as Record<string, unknown> | undefined
  const response: Record<string, unknown> = {}
  if (kept !== undefined) {
    // Whatever a kept answer has besides its timestamp is given back as is (a cassette may keep more).
    for (const k in kept) if (k !== 'timestamp') response[k] = kept[k]
    if (kept.timestamp !== undefined) response.timestamp = new Date(kept.timestamp as number)
  }
  const result: LanguageModelV3GenerateResult = {
    content: j.content,
    finishReason: j.finishReason,
    usage: j.usage,
    warnings: j.warnings ?? [],
    response: response as LanguageModelV3GenerateResult['response'],
  }
  if (j.providerMetadata !== undefined) result.providerMetadata = j.providerMetadata
  return result
}

const cutAt = (s: string): string => (s.length > 2000 ? `${s.slice(0, 2000)}…` : s)

/** The parts of an answer a trace shows: long texts cut at 2,000 characters, unless `full` (debug mode). */
export function answerOf(call: JournaledCall, full = false): ModelAnswerPart[] {
  const cut = full ? (s: string): string => s : cutAt
  const out: ModelAnswerPart[] = []
  for (const c of call.content) {
    if (c.type === 'text' || c.type === 'reasoning') out.push({ type: c.type, text: cut(c.text) })
    else if (c.type === 'tool-call')
      out.push({ type: 'tool-call', callId: c.toolCallId, tool: c.toolName, input: cut(c.input) })
  }
  return out
}

/** `model` with its `doGenerate` replaced; its `doStream` passes through unless one is given. */
export function withGenerate(
  model: LanguageModelV3,
  doGenerate: LanguageModelV3['doGenerate'],
  doStream: LanguageModelV3['doStream'] = (options) => model.doStream(options),
): LanguageModelV3 {
  return {
    specificationVersion: 'v3',
    provider: model.provider,
    modelId: model.modelId,
    get supportedUrls() {
      return model.supportedUrls
    },
    doGenerate,
    doStream,
  }
}

/**
 * Wraps a model so that each call is a durable step of the task
 * (`model:<n>`, numbered from 0 in call order; models of one task share
 * `counter`): an answer an earlier attempt received is replayed from the
 * journal and not paid for again; a new call is checked against the budgets
 * first and reported after. A call that fails keeps nothing and gives its
 * number to the next call (the SDK's retry of it). With `meter.stream` the
 * call is made with the model's `doStream` ({@link streamCall}), its text
 * reported through `meter.progress` as it comes, and the finished answer
 * kept exactly as a generated one; a stream that breaks off keeps nothing.
 * `doStream` of the wrapper is journaled too: it replays the kept answer as
 * a stream.
 */
export function meteredModel(
  model: LanguageModelV3,
  meter: ModelMeter,
  counter: { calls: number } = { calls: 0 },
): LanguageModelV3 {
  return new MeteredModel(model, meter, counter)
}

/** The answer of a call of {@link MeteredModel.doGenerate} made now; none when it was replayed from the journal. */
interface MadeCall {
  result: LanguageModelV3GenerateResult | undefined
}

/** A class, not a literal with closures: a task makes one of these per model, so one object. */
class MeteredModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3' as const
  readonly provider: string
  readonly modelId: string

  constructor(
    private readonly model: LanguageModelV3,
    private readonly meter: ModelMeter,
    private readonly counter: { calls: number },
  ) {
    this.provider = model.provider
    this.modelId = model.modelId
  }

  get supportedUrls(): LanguageModelV3['supportedUrls'] {
    return this.model.supportedUrls
  }

  private call(options: LanguageModelV3CallOptions, index: number): PromiseLike<LanguageModelV3GenerateResult> {
    const meter = this.meter
    if (meter.stream !== true) return this.model.doGenerate(options)
    const allowance = (options.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS) * 4
    const progress = meter.progress?.bind(meter)
    return streamCall(
      this.model,
      options,
      progress && ((p) => progress({ ...p, index, fraction: Math.min(0.99, (p.text + p.reasoning) / allowance) || 0 })),
    )
  }

  /** The call made for real (nothing kept for it): budgets, a hold, the rate limit, then the model. */
  private async make(options: LanguageModelV3CallOptions, index: number, made: MadeCall): Promise<JournaledCall> {
    const meter = this.meter
    const worst = new WorstCase(options)
    meter.beforeCall(worst)
    const hold = meter.hold === undefined ? undefined : await meter.hold(worst)
    let result: LanguageModelV3GenerateResult
    let durationMs: number
    try {
      const wait = throttle(providerOf(this.provider), worst)
      if (wait !== undefined) await wait
      const started = performance.now()
      result = await this.call(options, index)
      durationMs = performance.now() - started
    } catch (e) {
      if (hold !== undefined) await hold.release().catch(() => undefined)
      throw e
    }
    if (hold !== undefined) await hold.settle(usageOf(result.usage))
    made.result = result
    // Kept as JSON text, handed back as the provider gave it: a replay gets the text parsed (see fromJournal).
    const kept = journaled(result, durationMs)
    keepJsonText(kept, JSON.stringify(kept))
    return kept
  }

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    const meter = this.meter
    const counter = this.counter
    const index = counter.calls++
    const made: MadeCall = { result: undefined }
    let kept: JournaledCall
    try {
      kept = await meter.step(`model:${index}`, () => this.make(options, index, made))
    } catch (e) {
      // Nothing was kept under this number: the next call (a retry of this one) takes it, as it will on a replay.
      if (counter.calls === index + 1) counter.calls = index
      throw e
    }
    const report: Parameters<ModelMeter['afterCall']>[0] = {
      index,
      usage: usageOf(kept.usage),
      durationMs: kept.durationMs,
      replayed: made.result === undefined,
      finishReason: kept.finishReason.unified,
      answer: answerOf(kept, meter.full === true),
      warnings: kept.warnings ?? NO_WARNINGS,
    }
    if (meter.full === true) report.prompt = JSON.parse(JSON.stringify(options.prompt)) as unknown[]
    meter.afterCall(report)
    // A call made now answers with what the model gave, as a bare call would; a replayed one from the journal.
    return made.result ?? fromJournal(kept)
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    return streamOf(await this.doGenerate(options))
  }
}
