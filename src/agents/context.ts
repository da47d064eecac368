import type { AgentId, RunId, TaskId } from '../core/ids.js'

/** Log levels of {@link AgentLogger}. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** A logger bound to one task attempt; lines become `task.log` events. */
export interface AgentLogger {
  debug(message: string, data?: unknown): void
  info(message: string, data?: unknown): void
  warn(message: string, data?: unknown): void
  error(message: string, data?: unknown): void
}

/** What a handler receives beside its input. */
export interface AgentContext {
  /** Aborted when the attempt times out or the run is cancelled; pass it on to I/O. */
  readonly signal: AbortSignal
  /** The attempt number, starting at 1. */
  readonly attempt: number
  /** Stable across the attempts of one task in one run: use it to make side effects idempotent. */
  readonly idempotencyKey: string
  /** The run this attempt belongs to. */
  readonly runId: RunId
  /** The task of the workflow being executed. */
  readonly taskId: TaskId
  /** The agent instance executing it. */
  readonly instanceId: AgentId
  /** Logs a line, delivered as a `task.log` event. */
  readonly log: AgentLogger
  /** Reports progress of this task: `fraction` in [0, 1], an optional note. */
  progress(fraction: number, note?: string): void
}
