import { FlotillaError } from '../core/errors.js'
import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type { AgentContext, AgentLogger, LogLevel } from '../agents/context.js'
import type { AttemptHandle } from './run-execution.js'

/** What a context reports back to the engine. */
export interface ContextSink {
  log(runId: RunId, taskId: TaskId, level: LogLevel, message: string, data: unknown): void
  progress(runId: RunId, taskId: TaskId, attempt: number, fraction: number, note: string | undefined): void
}

/**
 * The context of one task attempt. The abort signal is made on first use, so
 * handlers that never look at it cost no controller.
 */
export class TaskContext implements AgentContext {
  private _log: AgentLogger | undefined

  constructor(
    private readonly sink: ContextSink,
    private readonly handle: AttemptHandle,
    readonly runId: RunId,
    readonly taskId: TaskId,
    readonly attempt: number,
    readonly instanceId: AgentId,
  ) {}

  get signal(): AbortSignal {
    return (this.handle.controller ??= new AbortController()).signal
  }

  get idempotencyKey(): string {
    return `${this.runId}:${this.taskId}`
  }

  get log(): AgentLogger {
    if (this._log) return this._log
    const line = (level: LogLevel) => (message: string, data?: unknown) => this.sink.log(this.runId, this.taskId, level, String(message), data)
    return (this._log = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') })
  }

  progress(fraction: number, note?: string): void {
    if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
      throw new FlotillaError('VALIDATION_FAILED', `ctx.progress needs a fraction between 0 and 1, got ${String(fraction)}.`, { details: { fraction: String(fraction) } })
    }
    this.sink.progress(this.runId, this.taskId, this.attempt, fraction, note)
  }
}
