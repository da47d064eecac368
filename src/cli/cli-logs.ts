import { usageError } from './args.js'
import type { RunEvent } from '../core/events.js'
import { errorFields, type Logger } from '../telemetry/telemetry.js'
import type { Interceptor } from '../workflows/invoker.js'
import type { CliIO } from './execute-run.js'

/** The levels `--log-level` and `FLOTILLA_LOG_LEVEL` take (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** What `--log-level` says in `--help`. */
export const LOG_LEVEL_HELP = `      --log-level LEVEL   Log lines from this level up: ${LOG_LEVELS.join(', ')}
                          (default info, or FLOTILLA_LOG_LEVEL); JSON lines on
                          stderr, readable ones when stderr is a terminal`

/** Field names whose values never reach a log line, at any of the first three levels. */
const SECRET_FIELDS = [
  'authorization',
  'Authorization',
  'x-api-key',
  'apiKey',
  'api_key',
  'key',
  'secret',
  'token',
  'accessToken',
  'refreshToken',
  'password',
  'cookie',
]

/** pino `redact` paths: the secret fields and every value of an `env` object, near the top of a line. */
export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => {
    const k = /^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`
    const at = (prefix: string): string => (k.startsWith('[') ? `${prefix}${k}` : `${prefix}.${k}`)
    return [k.startsWith('[') ? k : f, at('*'), at('*.*')]
  }),
  'env.*',
  '*.env.*',
]

/** The log level: the flag, else `FLOTILLA_LOG_LEVEL`, else `info`; a usage error for anything else. */
export function logLevel(command: string, flag: string | undefined, env = process.env): string {
  const given = flag ?? (env.FLOTILLA_LOG_LEVEL?.trim() || 'info')
  if ((LOG_LEVELS as readonly string[]).includes(given)) return given
  throw usageError(
    command,
    `flotilla ${command}: --log-level (or FLOTILLA_LOG_LEVEL) must be one of ${LOG_LEVELS.join(', ')}; got "${given}".`,
  )
}

/**
 * A pino logger on the command's stderr: JSON lines, or readable colored
 * lines (pino-pretty) when stderr is a terminal. Keys, tokens, secrets and
 * `env` values are redacted. pino is imported on this call. (Wrapped in an
 * object: a pino logger's types look thenable to `await`.)
 */
export async function openLogger(io: CliIO, level: string, name: string): Promise<{ logger: Logger }> {
  const { pino } = await import('pino')
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }
  if ((io.err as { isTTY?: boolean }).isTTY === true) {
    const pretty = (await import('pino-pretty')).default
    return { logger: pino(options, pretty({ colorize: true, destination: 2, sync: true })) }
  }
  return { logger: pino(options, { write: (line: string) => void io.err.write(line) }) }
}

/** Logs each attempt run here, and keeps the trace ids of their runs (bounded) for the runs' lines. */
export class TraceIds {
  private readonly ids = new Map<string, string>()

  constructor(private readonly logger: Logger) {}

  /** An interceptor logging each attempt with its ids (put it after the telemetry ones: it reads `ctx.trace`). */
  readonly interceptor: Interceptor = async (call, next) => {
    const tp = call.context.trace?.traceparent
    if (tp !== undefined) {
      if (this.ids.size >= 10_000) this.ids.delete(this.ids.keys().next().value!)
      this.ids.set(call.runId, tp.slice(3, 35))
    }
    const ids = this.fields(call.runId, {
      taskId: call.taskId,
      attempt: call.attempt,
      agent: `${call.definition.name}@${call.definition.version}`,
    })
    const started = performance.now()
    this.logger.debug(ids, 'task.started')
    try {
      const output = await next(call)
      this.logger.info({ ...ids, durationMs: Math.round(performance.now() - started) }, 'task.succeeded')
      return output
    } catch (e) {
      this.logger.warn(
        { ...ids, durationMs: Math.round(performance.now() - started), ...errorFields(e) },
        'task.failed',
      )
      throw e
    }
  }

  /** The fields naming a run (and task) on a log line. */
  fields(runId: string, more: Record<string, unknown> = {}): Record<string, unknown> {
    const traceId = this.ids.get(runId)
    return { runId, ...more, ...(traceId === undefined ? {} : { traceId }) }
  }
}

/** Logs the life of the runs a process handles (and their tasks' log lines), with run, task and trace ids. */
export function logRunEvents(logger: Logger, traces: TraceIds): (event: RunEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'run.started':
      case 'run.succeeded':
      case 'run.paused':
      case 'run.resumed':
        return logger.info(traces.fields(e.runId), e.type)
      case 'run.failed':
      case 'run.cancelled':
        return logger.warn(traces.fields(e.runId, 'error' in e ? { err: e.error } : {}), e.type)
      case 'task.log':
        return logger[e.level](traces.fields(e.runId, { taskId: e.taskId, data: e.data }), e.message)
      default:
        return
    }
  }
}
