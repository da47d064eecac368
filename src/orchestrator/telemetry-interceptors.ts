import type { Interceptor } from '../workflows/invoker.js'
import type { ResolvedTelemetry, Telemetry } from '../telemetry/telemetry.js'

/** Names of the instruments and spans Flotilla reports (documented in docs/observability.md). */
export const TELEMETRY_NAMES = {
  attempts: 'flotilla.task.attempts',
  duration: 'flotilla.task.duration',
  running: 'flotilla.task.running',
  span: 'flotilla.task',
} as const

/**
 * The interceptors that report each agent execution to the telemetry pipes
 * the user gave: a span per attempt (with a tracer), and attempt counts,
 * durations and attempts running now (with a meter). None without them, so
 * the default path stays as it is.
 */
export function telemetryInterceptors(given: Telemetry | undefined, t: ResolvedTelemetry): Interceptor[] {
  const out: Interceptor[] = []
  if (given?.meter !== undefined) {
    const attempts = t.meter.createCounter(TELEMETRY_NAMES.attempts, { description: 'Agent executions (task attempts) that finished, by agent and outcome', unit: '{attempt}' })
    const duration = t.meter.createHistogram(TELEMETRY_NAMES.duration, { description: 'How long agent executions took', unit: 'ms' })
    const running = t.meter.createUpDownCounter(TELEMETRY_NAMES.running, { description: 'Agent executions running now', unit: '{attempt}' })
    out.push(async (call, next) => {
      const agent = `${call.definition.name}@${call.definition.version}`
      const started = performance.now()
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
  if (t.tracing) {
    const tracer = t.tracer
    out.push(async (call, next) => {
      const span = tracer.startSpan(TELEMETRY_NAMES.span, {
        attributes: { 'flotilla.run_id': call.runId, 'flotilla.task_id': call.taskId, 'flotilla.attempt': call.attempt, 'flotilla.agent': call.definition.name, 'flotilla.agent_version': call.definition.version },
      })
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
    })
  }
  return out
}
