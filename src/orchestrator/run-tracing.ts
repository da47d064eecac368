import { createHash } from 'node:crypto'
import type { AttemptTrace } from '../agents/context.js'
import type { ModelCalledEvent, RunEvent } from '../core/events.js'
import type { RunId } from '../core/ids.js'
import type { CommitInfo, CommitObserver } from '../store/commit-hooks.js'
import type { Store } from '../store/store.js'
import { parseTraceparent, traceContextOf, traceparentOf } from '../telemetry/trace-context.js'
import type { Span, SpanLink, SpanOptions, TraceContext, Tracer } from '../telemetry/telemetry.js'
import type { Interceptor } from '../workflows/invoker.js'

/** Attempt spans kept for the model calls reported after them (bounded). */
const MAX_ATTEMPTS = 10_000
/** Runs of a group commit linked from its span, at most. */
const MAX_LINKS = 32

const FINAL: Readonly<Record<string, number>> = { 'run.succeeded': 1, 'run.failed': 2, 'run.cancelled': 2 }
const ATTEMPT_END = new Set(['task.succeeded', 'task.failed', 'task.retrying', 'task.cancelled'])

/** `runId/taskId/attempt`. */
const attemptKey = (runId: string, taskId: string, attempt: number): string => `${runId}\u0000${taskId}\u0000${attempt}`

/**
 * The W3C `traceparent` a run without a stored one hangs under: its trace id
 * and parent span id are hashed from the run id, so every worker running its
 * attempts puts them in the same trace (whose root span nobody records).
 */
export function derivedTraceparent(runId: string): string {
  const hex = createHash('sha256').update(`flotilla.run:${runId}`).digest('hex')
  return `00-${hex.slice(0, 32)}-${hex.slice(32, 48)}-01`
}

/** `store`, whose commits `tracing` (when there is one) now reports as spans. */
export function watched<S extends Store>(tracing: RunTracing | undefined, store: S): S {
  tracing?.watch(store)
  return store
}

/** `run`, whose stored `traceparent` `tracing` (when there is one) now knows, for the store commit spans of the run. */
export function traced<R extends { readonly id: RunId; readonly traceParent?: string | undefined }>(
  tracing: RunTracing | undefined,
  run: R,
): R {
  tracing?.knowRun(run.id, run.traceParent)
  return run
}

/**
 * The spans of runs in one process (an `Orchestrator`, a `Worker`, a
 * `Client`): a `flotilla.run` span per run started here (its `traceparent`
 * is stored with the run), a `flotilla.task` span per attempt (the child of
 * the run's span, read from the store in another worker), a `chat <model>`
 * span per model call (the child of its attempt) and whatever the handler
 * starts through `ctx.trace`. Made only when a tracer is given.
 */
export class RunTracing {
  private readonly runs = new Map<RunId, Span>()
  private readonly attempts = new Map<string, Span>()
  /** The `traceparent` of runs whose attempts ran here without their run span (a worker), for store commit spans. */
  private readonly parents = new Map<RunId, string>()
  private unwatch: (() => void) | undefined

  constructor(private readonly tracer: Tracer) {}

  /** Makes a `flotilla.store.commit` span per commit of `store` (SQLite, PostgreSQL), until {@link RunTracing.close}. */
  watch(store: Store): void {
    this.unwatch?.()
    this.unwatch = store.commits?.add(this.commitObserver)
  }

  /** Starts the span of a new run; returns its `traceparent`, to store with the run. */
  startRun(runId: RunId, workflow: string, parent?: string): string | undefined {
    const span = this.tracer.startSpan(
      'flotilla.run',
      { attributes: { 'flotilla.run_id': runId, 'flotilla.workflow': workflow }, ...(parent ? {} : { root: true }) },
      traceContextOf(parent),
    )
    this.runs.set(runId, span)
    return traceparentOf(span)
  }

  /** Ends a run's span with its outcome (`undefined` state: the process closes first, the outcome is unknown). */
  endRun(runId: RunId, state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | undefined, message?: string): void {
    const span = this.runs.get(runId)
    if (span === undefined) return
    this.runs.delete(runId)
    if (state !== undefined) span.setAttribute('flotilla.run_state', state)
    if (state === 'SUCCEEDED') span.setStatus({ code: 1 })
    else if (state !== undefined) span.setStatus({ code: 2, ...(message === undefined ? {} : { message }) })
    span.end()
  }

  /** Runs whose span is open here. */
  openRuns(): RunId[] {
    return [...this.runs.keys()]
  }

  /** Follows the run events of this process: ends run spans, reports model calls, forgets finished attempts. */
  onEvent = (event: RunEvent): void => {
    if (event.type === 'model.called') return this.modelCall(event)
    if (ATTEMPT_END.has(event.type)) {
      const e = event as RunEvent & { taskId: string; attempt?: number }
      if (e.attempt !== undefined) this.attempts.delete(attemptKey(e.runId, e.taskId, e.attempt))
      return
    }
    const code = FINAL[event.type]
    if (code === undefined) return
    this.parents.delete(event.runId)
    const state = event.type === 'run.succeeded' ? 'SUCCEEDED' : event.type === 'run.failed' ? 'FAILED' : 'CANCELLED'
    const error = (event as { error?: { message?: string } }).error
    this.endRun(event.runId, state, error?.message)
  }

  /** Ends every span still open (the process closes). */
  close(): void {
    this.unwatch?.()
    this.unwatch = undefined
    for (const id of this.openRuns()) this.endRun(id, undefined)
    this.attempts.clear()
    this.parents.clear()
  }

  /**
   * A span per store commit: the child of its run's span (here, or the
   * run's `traceparent` an attempt here carried) when it writes to one run;
   * else a root span linked to those runs' spans.
   */
  private readonly commitObserver: CommitObserver = (c: CommitInfo) => {
    const attributes = {
      'db.system.name': c.system,
      'db.operation.name': c.operation,
      'flotilla.store.ops': c.ops,
      'flotilla.store.events': c.events,
      'flotilla.store.runs': c.runIds.length,
      ...(c.runIds.length === 1 ? { 'flotilla.run_id': c.runIds[0] } : {}),
    }
    const one = c.runIds.length === 1 ? this.knownParent(c.runIds[0] as RunId) : undefined
    let options: SpanOptions = { kind: 2, attributes }
    if (one === undefined) {
      const links: SpanLink[] = []
      for (const id of c.runIds) {
        const parent = this.knownParent(id as RunId)
        const context = typeof parent === 'string' ? parseTraceparent(parent) : parent?.spanContext()
        if (context !== undefined) links.push({ context })
        if (links.length >= MAX_LINKS) break
      }
      options = { ...options, root: true, ...(links.length > 0 ? { links } : {}) }
    }
    const span = this.tracer.startSpan('flotilla.store.commit', options, traceContextOf(one))
    return (error?: unknown) => {
      if (error === undefined) span.setStatus({ code: 1 })
      else {
        const code = (error as { code?: unknown }).code
        span.setAttribute('error.type', typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error')
        span.recordException(error instanceof Error ? error : String(error))
        span.setStatus({ code: 2, message: error instanceof Error ? error.message : String(error) })
      }
      span.end()
    }
  }

  /**
   * Notes the stored `traceparent` of a run this process works on without its
   * span (a worker coordinating it or running its attempts), so that the
   * store commits for it join its trace.
   */
  knowRun(runId: RunId, traceParent: string | undefined): void {
    if (this.runs.has(runId)) return
    if (this.parents.size >= MAX_ATTEMPTS && !this.parents.has(runId))
      this.parents.delete(this.parents.keys().next().value!)
    this.parents.set(runId, traceParent ?? derivedTraceparent(runId))
  }

  /** The run's span here, or the `traceparent` its attempts here hung under. */
  private knownParent(runId: RunId): Span | string | undefined {
    return this.runs.get(runId) ?? this.parents.get(runId)
  }

  /** Where the attempt spans of a run start: its span here, else its stored `traceparent`, else one derived from its id. */
  private runContext(runId: RunId, traceParent: string | undefined): TraceContext | undefined {
    const span = this.runs.get(runId)
    if (span !== undefined) return traceContextOf(span)
    return traceContextOf(traceParent ?? derivedTraceparent(runId))
  }

  /** The interceptor that gives each agent execution its span and its handler `ctx.trace`. */
  interceptor(): Interceptor {
    const tracer = this.tracer
    return async (call, next) => {
      const span = tracer.startSpan(
        'flotilla.task',
        {
          attributes: {
            'flotilla.run_id': call.runId,
            'flotilla.task_id': call.taskId,
            'flotilla.attempt': call.attempt,
            'flotilla.agent': call.definition.name,
            'flotilla.agent_version': call.definition.version,
          },
        },
        this.runContext(call.runId, call.traceParent),
      )
      this.knowRun(call.runId, call.traceParent)
      const key = attemptKey(call.runId, call.taskId, call.attempt)
      if (this.attempts.size >= MAX_ATTEMPTS) this.attempts.delete(this.attempts.keys().next().value!)
      this.attempts.set(key, span)
      const traceparent = traceparentOf(span)
      if (traceparent !== undefined) {
        const trace: AttemptTrace = {
          traceparent,
          startSpan: (name: string, options?: SpanOptions) => tracer.startSpan(name, options, traceContextOf(span)),
        }
        // The context is the engine's TaskContext (or a caller's own object): it takes the attempt's trace.
        ;(call.context as { trace?: AttemptTrace }).trace = trace
      }
      try {
        const output = await next(call)
        span.setStatus({ code: 1 })
        return output
      } catch (e) {
        span.recordException(e instanceof Error ? e : String(e))
        const code = (e as { code?: unknown }).code
        if (typeof code === 'string') span.setAttribute('flotilla.error_code', code)
        span.setStatus({ code: 2, message: e instanceof Error ? e.message : String(e) })
        throw e
      } finally {
        span.end()
      }
    }
  }

  /** A span `chat <model>` dated to the call, the child of its attempt's span, in the GenAI conventions. */
  private modelCall(e: ModelCalledEvent): void {
    if (e.replayed) return
    const colon = e.model.indexOf(':')
    const model = e.model.slice(colon + 1)
    const attempt = this.attempts.get(attemptKey(e.runId, e.taskId, e.attempt))
    const span = this.tracer.startSpan(
      `chat ${model}`,
      {
        kind: 2,
        startTime: e.at - e.durationMs,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': e.model.slice(0, colon),
          'gen_ai.request.model': model,
          'gen_ai.usage.input_tokens': e.usage.inputTokens,
          'gen_ai.usage.output_tokens': e.usage.outputTokens,
          'gen_ai.response.finish_reasons': e.finishReason,
          'flotilla.agent': e.agent,
          'flotilla.run_id': e.runId,
          'flotilla.task_id': e.taskId,
          'flotilla.attempt': e.attempt,
          'flotilla.model_call': e.call,
          'flotilla.cost_usd': e.costUsd,
        },
      },
      attempt === undefined ? this.runContext(e.runId, undefined) : traceContextOf(attempt),
    )
    span.setStatus({ code: 1 })
    span.end(e.at)
  }
}
