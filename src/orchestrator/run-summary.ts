import type { LanguageModelV3CallOptions } from '@ai-sdk/provider'
import type { Clock } from '../core/clock.js'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId } from '../core/ids.js'
import { noSpend, type ModelSpend } from '../core/model-spend.js'
import { costOf, DEFAULT_PRICES, priceOf } from '../models/pricing.js'
import { modelName, resolveModel, type ModelSpec } from '../models/providers.js'
import { usageOf } from '../models/usage.js'
import type { GeneratedSummary, RunRecord, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import type { Logger } from '../telemetry/telemetry.js'
import type { SummarySpec, WorkflowSpec } from '../workflows/spec.js'

/** The system prompt of a run summary unless the workflow gives one. */
export const DEFAULT_SUMMARY_SYSTEM =
  'You summarise the results of a finished workflow run for the people who started it. ' +
  'In a few plain sentences, say what the run found or produced, and which tasks failed and why. ' +
  'Do not invent anything that is not in the results.'

/** Most tokens of a summary unless the workflow says otherwise. */
export const DEFAULT_SUMMARY_MAX_TOKENS = 300

/** Most characters of one task's output (or error) shown to the summary model. */
const MAX_TASK_CHARS = 2_000
/** Most characters of all the results shown to the summary model. */
const MAX_PROMPT_CHARS = 16_000
/** A summary call that takes longer is abandoned (`run.summary_failed`). */
const SUMMARY_TIMEOUT_MS = 120_000

/** The `summary` option of a workflow as an object, or `undefined` when it asks for none. */
export function summaryOptions(spec: Pick<WorkflowSpec, 'summary'>): SummarySpec | undefined {
  const s = spec.summary
  if (s === undefined || s === false) return undefined
  return s === true ? {} : s
}

/**
 * The model that writes a run's summary: the workflow's `summary.model`,
 * else the orchestrator's `summaryModel`; `undefined` when the workflow asks
 * for no summary. Neither: `SUMMARY_MODEL_MISSING`; a malformed model
 * string: `MODEL_INVALID`. Checked before a run starts.
 */
export function summaryModelOf(spec: Pick<WorkflowSpec, 'name' | 'summary'>, fallback: ModelSpec | undefined) {
  const options = summaryOptions(spec)
  if (options === undefined) return undefined
  const model = options.model ?? fallback
  if (model === undefined)
    throw new FlotillaError(
      'SUMMARY_MODEL_MISSING',
      `Workflow "${spec.name}" asks for a run summary but names no model: set summary.model ("provider:model", e.g. openai:gpt-4.1-mini) in the workflow, or give the orchestrator a summaryModel.`,
      { details: { workflow: spec.name } },
    )
  return resolveModel(model)
}

/** What a {@link RunSummaries} works with. */
export interface RunSummaryParts {
  readonly store: Store
  readonly clock: Clock
  /** Delivers the summary's event to this process's listeners (after it is stored). */
  readonly deliver: (events: readonly RunEvent[]) => void
  /** The orchestrator's (or worker's) `summaryModel`. */
  readonly model: ModelSpec | undefined
  readonly logger?: Logger
}

/**
 * Writes the summaries of runs that ended (the workflow's `summary` option):
 * a model reads the run's task results from the store and writes a few
 * sentences, stored on the run record with what the call cost (`run.summary`
 * op, `run.summarized` event). A failure is a `run.summary_failed` event
 * and never changes the run. Each run is summarised once per process.
 */
export class RunSummaries {
  private readonly writing = new Map<RunId, Promise<GeneratedSummary | undefined>>()

  constructor(private readonly p: RunSummaryParts) {}

  /**
   * Writes the summary of run `runId` if its workflow asks for one and it
   * SUCCEEDED or FAILED (a cancelled run gets none); resolves to it, or to
   * `undefined`. Never rejects.
   */
  write(runId: RunId): Promise<GeneratedSummary | undefined> {
    let pending = this.writing.get(runId)
    if (pending === undefined) {
      pending = this.attempt(runId).finally(() => this.writing.delete(runId))
      this.writing.set(runId, pending)
    }
    return pending
  }

  /**
   * Starts writing the summary of run `runId`, which just ended SUCCEEDED or
   * FAILED running `spec`, if `spec` asks for one. A workflow asking for
   * none costs no store read.
   */
  afterEnd(runId: RunId, spec: Pick<WorkflowSpec, 'summary'>): void {
    // A stored definition that does not compile may be no object at all: it asks for nothing then.
    if (typeof spec === 'object' && spec !== null && summaryOptions(spec) !== undefined) void this.write(runId)
  }

  /** Waits for the summaries being written. */
  async idle(): Promise<void> {
    await Promise.all([...this.writing.values()])
  }

  private async attempt(runId: RunId): Promise<GeneratedSummary | undefined> {
    let record: RunRecord | undefined
    try {
      record = await this.p.store.getRun(runId)
      if (record === undefined || (record.state !== 'SUCCEEDED' && record.state !== 'FAILED')) return undefined
      if (record.summary !== undefined) return record.summary
      const spec = record.definition as WorkflowSpec
      const options = summaryOptions(spec)
      if (options === undefined) return undefined
      const model = summaryModelOf(spec, this.p.model)!
      const tasks = await this.p.store.getTasks(runId)
      const summary = await this.call(model, options, record, tasks)
      const event: RunEvent = {
        type: 'run.summarized',
        at: summary.at,
        runId,
        model: summary.model,
        length: summary.text.length,
        spend: summary.spend,
      }
      await this.p.store.commit({ ops: [{ op: 'run.summary', runId, summary }], events: [event] })
      this.p.deliver([event])
      return summary
    } catch (e) {
      if (record === undefined) return undefined
      const error = toFlotillaError(e, 'TASK_FAILED')
      const event: RunEvent = { type: 'run.summary_failed', at: this.p.clock.wallNow(), runId, error: error.toJSON() }
      try {
        await this.p.store.commit({ ops: [], events: [event] })
        this.p.deliver([event])
      } catch (stored) {
        this.p.logger?.warn(
          { runId, error: error.message, store: toFlotillaError(stored).message },
          'run summary failed and could not be recorded',
        )
      }
      return undefined
    }
  }

  private async call(
    model: ReturnType<typeof resolveModel>,
    options: SummarySpec,
    record: RunRecord,
    tasks: readonly TaskRecord[],
  ): Promise<GeneratedSummary> {
    const call: LanguageModelV3CallOptions = {
      prompt: [
        { role: 'system', content: options.system ?? DEFAULT_SUMMARY_SYSTEM },
        { role: 'user', content: [{ type: 'text', text: summaryPrompt(record, tasks) }] },
      ],
      maxOutputTokens: options.maxTokens ?? DEFAULT_SUMMARY_MAX_TOKENS,
      abortSignal: AbortSignal.timeout(SUMMARY_TIMEOUT_MS),
    }
    const answer = await model.doGenerate(call)
    const text = answer.content
      .map((part) => (part.type === 'text' ? part.text : ''))
      .join('')
      .trim()
    if (text === '')
      throw new FlotillaError('MODEL_OUTPUT_INVALID', `The summary model ${modelName(model)} answered with no text.`, {
        details: { runId: record.id },
      })
    const label = modelName(model)
    const usage = usageOf(answer.usage)
    const spend: ModelSpend = {
      ...noSpend(),
      calls: 1,
      ...usage,
      costUsd: costOf(usage, priceOf(label, { ...DEFAULT_PRICES, ...(options.prices ?? {}) })),
    }
    return { text, model: label, spend, at: this.p.clock.wallNow() }
  }
}

/** `value` as JSON text, cut at `max` characters. */
function shown(value: unknown, max: number): string {
  let text: string
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null')
  } catch {
    text = String(value)
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text
}

/**
 * What the summary model reads: the workflow, the run's state and error, and
 * each task's state with its output or error (each cut at 2,000
 * characters, the whole at 16,000).
 */
export function summaryPrompt(record: RunRecord, tasks: readonly TaskRecord[]): string {
  const spec = record.definition as WorkflowSpec
  const head = [
    `Workflow: ${record.workflow}${spec.description === undefined ? '' : ` (${spec.description})`}`,
    `Run ${record.id}: ${record.state}${record.error === undefined ? '' : ` — ${record.error.code}: ${record.error.message}`}`,
    `Input: ${shown(record.input, MAX_TASK_CHARS)}`,
    'Tasks:',
  ]
  let text = head.join('\n')
  for (const t of tasks) {
    const body =
      t.state === 'SUCCEEDED'
        ? `output: ${shown(t.output, MAX_TASK_CHARS)}`
        : t.error !== undefined
          ? `error: ${t.error.code}: ${shown(t.error.message, MAX_TASK_CHARS)}`
          : ''
    const line = `\n- ${t.taskId} [${t.state}]${body === '' ? '' : ` ${body}`}`
    if (text.length + line.length > MAX_PROMPT_CHARS) {
      text += `\n… (${tasks.length - tasks.indexOf(t)} more tasks not shown)`
      break
    }
    text += line
  }
  return text
}
