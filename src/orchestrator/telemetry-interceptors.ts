import type { RunEvent, ModelCalledEvent } from '../core/events.js'
import type { Interceptor } from '../workflows/invoker.js'
import type { ResolvedTelemetry, Telemetry } from '../telemetry/telemetry.js'
import type { RunTracing } from './run-tracing.js'

/** Names of the instruments and spans Flotilla reports (documented in docs/observability.md). */
export const TELEMETRY_NAMES = {
  attempts: 'flotilla.task.attempts',
  duration: 'flotilla.task.duration',
  running: 'flotilla.task.running',
  span: 'flotilla.task',
  tokens: 'gen_ai.client.token.usage',
  modelDuration: 'gen_ai.client.operation.duration',
  cost: 'flotilla.model.cost',
  retries: 'flotilla.task.retries',
  tasks: 'flotilla.tasks',
  runs: 'flotilla.runs',
} as const

const RUN_STATE_OF: Readonly<Record<string, string>> = {
  'run.started': 'started',
  'run.succeeded': 'succeeded',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
  'run.paused': 'paused',
  'run.resumed': 'resumed',
  'run.recovered': 'recovered',
}
const TASK_STATE_OF: Readonly<Record<string, string>> = {
  'task.succeeded': 'succeeded',
  'task.failed': 'failed',
  'task.retrying': 'retrying',
  'task.skipped': 'skipped',
  'task.cancelled': 'cancelled',
}

/**
 * What a worker's claims report: `flotilla.worker.claim.duration` (how long
 * a claim took in the store, ms) and `flotilla.worker.claimed` (attempts
 * claimed), by `worker`. `undefined` without a meter.
 */
export function claimTelemetry(
  given: Telemetry | undefined,
  t: ResolvedTelemetry,
  worker: string,
): ((ms: number, claimed: number) => void) | undefined {
  if (given?.meter === undefined) return undefined
  const duration = t.meter.createHistogram('flotilla.worker.claim.duration', {
    description: 'How long a claim of ready attempts took in the queue',
    unit: 'ms',
  })
  const claimedCount = t.meter.createCounter('flotilla.worker.claimed', {
    description: 'Attempts claimed from the queue, by worker',
    unit: '{attempt}',
  })
  const attributes = { worker }
  return (ms, claimed) => {
    duration.record(ms, attributes)
    if (claimed > 0) claimedCount.add(claimed, attributes)
  }
}

/**
 * Counts the runs and tasks reaching each state, from the events of this
 * process: `flotilla.runs` (`state`: started, succeeded, failed, cancelled,
 * paused, resumed, recovered) and `flotilla.tasks` (`state`: succeeded,
 * failed, retrying, skipped, cancelled). `undefined` without a meter.
 */
export function lifecycleTelemetry(
  given: Telemetry | undefined,
  t: ResolvedTelemetry,
): ((e: RunEvent) => void) | undefined {
  if (given?.meter === undefined) return undefined
  const runs = t.meter.createCounter(TELEMETRY_NAMES.runs, { description: 'Runs that reached a state', unit: '{run}' })
  const tasks = t.meter.createCounter(TELEMETRY_NAMES.tasks, {
    description: 'Tasks that reached a state',
    unit: '{task}',
  })
  return (event) => {
    const run = RUN_STATE_OF[event.type]
    if (run !== undefined) return runs.add(1, { state: run })
    const task = TASK_STATE_OF[event.type]
    if (task !== undefined) tasks.add(1, { state: task })
  }
}

/**
 * What a model call reports to the meter, in the OpenTelemetry GenAI
 * conventions: the histograms `gen_ai.client.token.usage` (by
 * `gen_ai.token.type` input / output) and `gen_ai.client.operation.duration`
 * (s), and the counter `flotilla.model.cost` (USD). Its span is made by
 * `RunTracing`. Calls replayed from a journal are not reported again.
 * `undefined` without a meter.
 */
export function modelTelemetry(
  given: Telemetry | undefined,
  t: ResolvedTelemetry,
): ((e: RunEvent) => void) | undefined {
  if (given?.meter === undefined) return undefined
  const tokens = t.meter.createHistogram(TELEMETRY_NAMES.tokens, {
    description: 'Tokens used by model calls',
    unit: '{token}',
  })
  const duration = t.meter.createHistogram(TELEMETRY_NAMES.modelDuration, {
    description: 'How long model calls took',
    unit: 's',
  })
  const cost = t.meter.createCounter(TELEMETRY_NAMES.cost, {
    description: 'What model calls cost, from the price table',
    unit: 'USD',
  })
  return (event) => {
    if (event.type !== 'model.called' || event.replayed) return
    const e: ModelCalledEvent = event
    const colon = e.model.indexOf(':')
    const attributes = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': e.model.slice(0, colon),
      'gen_ai.request.model': e.model.slice(colon + 1),
      'flotilla.agent': e.agent,
    }
    tokens.record(e.usage.inputTokens, { ...attributes, 'gen_ai.token.type': 'input' })
    tokens.record(e.usage.outputTokens, { ...attributes, 'gen_ai.token.type': 'output' })
    duration.record(e.durationMs / 1000, attributes)
    cost.add(e.costUsd, attributes)
  }
}

/**
 * The interceptors that report each agent execution to the telemetry pipes
 * the user gave: attempt counts, durations and attempts running now (with a
 * meter), a span per attempt (with `tracing`). None without them, so the
 * default path stays as it is.
 */
export function telemetryInterceptors(
  given: Telemetry | undefined,
  t: ResolvedTelemetry,
  tracing?: RunTracing,
): Interceptor[] {
  const out: Interceptor[] = []
  if (given?.meter !== undefined) {
    const attempts = t.meter.createCounter(TELEMETRY_NAMES.attempts, {
      description: 'Agent executions (task attempts) that finished, by agent and outcome',
      unit: '{attempt}',
    })
    const duration = t.meter.createHistogram(TELEMETRY_NAMES.duration, {
      description: 'How long agent executions took',
      unit: 'ms',
    })
    const running = t.meter.createUpDownCounter(TELEMETRY_NAMES.running, {
      description: 'Agent executions running now',
      unit: '{attempt}',
    })
    const retries = t.meter.createCounter(TELEMETRY_NAMES.retries, {
      description: 'Agent executions that were a retry (attempt 2 or later), by agent',
      unit: '{attempt}',
    })
    out.push(async (call, next) => {
      const agent = `${call.definition.name}@${call.definition.version}`
      const started = performance.now()
      if (call.attempt > 1) retries.add(1, { agent })
      running.add(1, { agent })
      let outcome = 'error'
      try {
        const output = await next(call)
        outcome = 'ok'
        return output
      } finally {
        running.add(-1, { agent })
        attempts.add(1, { agent, outcome })
        duration.record(performance.now() - started, { agent, outcome })
      }
    })
  }
  if (tracing !== undefined) out.push(tracing.interceptor())
  return out
}
