/**
 * The events of a run's lifecycle (`run.*`) and of its tasks' attempts
 * (`task.*`), with the {@link RunProgress} that `run.progress` carries. All
 * are stored in the run's event log; see `RunEvent` in `events.ts`.
 */
import type { SerializedError } from './errors.js'
import type { RunEventBase } from './event-base.js'
import type { AgentId, RunId, TaskId } from './ids.js'
import type { ModelSpend } from './model-spend.js'
import type { TaskState } from './states.js'

/** Progress of a run, as counts by task state, percentage and estimate. */
export interface RunProgress {
  /** Tasks in the workflow. */
  total: number
  /** Tasks in a final state. */
  done: number
  /** `done / total × 100`, rounded to one decimal. */
  percent: number
  /** Tasks per state. */
  counts: Record<TaskState, number>
  /** Milliseconds since the run started. */
  elapsedMs: number
  /** Estimated milliseconds to completion from observed task durations; `undefined` until one task finished. */
  etaMs: number | undefined
}

/** A run was created and started (`parentRunId`: the run it replays, or with `parentTaskId` the run whose task planned it). */
export interface RunStartedEvent extends RunEventBase {
  type: 'run.started'
  workflow: string
  tasks: number
  parentRunId?: RunId
  /** For a child run: the task of `parentRunId` that waits for it. */
  parentTaskId?: TaskId
  /** Debug mode: full model traces and conversations are kept (see `docs/observability.md`, "Debug mode"). */
  debug?: true
  /** The run pauses at a task about to fail for good instead of failing. */
  breakOnError?: true
}
/** A stored, unfinished run was picked up again after a restart (`done` tasks were kept). */
export interface RunRecoveredEvent extends RunEventBase {
  type: 'run.recovered'
  done: number
  tasks: number
}
/** A paused run. */
export interface RunPausedEvent extends RunEventBase {
  type: 'run.paused'
  /** Set when the pause was written by another process (`flotilla runs pause` in another terminal, a client). */
  by?: 'another process'
  /**
   * `break on error`: the run has `breakOnError` and task `taskId` was about to
   * fail for good (its retries spent) with `error`; resuming retries it.
   */
  reason?: 'break on error'
  taskId?: TaskId
  attempt?: number
  error?: SerializedError
}
/**
 * A task of the run waits because no live worker offers what it needs (its
 * agent, a version in its range, or its capability); it starts once one does.
 */
export interface RunWaitingEvent extends RunEventBase {
  type: 'run.waiting'
  taskId: TaskId
  agent?: string
  capability?: string
  reason: string
}
/** A resumed run. */
export interface RunResumedEvent extends RunEventBase {
  type: 'run.resumed'
}
/** A run finished with every required task succeeded. */
export interface RunSucceededEvent extends RunEventBase {
  type: 'run.succeeded'
  durationMs: number
}
/** A run finished because a task failed. */
export interface RunFailedEvent extends RunEventBase {
  type: 'run.failed'
  durationMs: number
  error: SerializedError
}
/** A run was cancelled. */
export interface RunCancelledEvent extends RunEventBase {
  type: 'run.cancelled'
  durationMs: number
  reason: string
}
/** A model wrote the summary of a run that ended (the workflow's `summary` option); its spend counts in the run's cost. */
export interface RunSummarizedEvent extends RunEventBase {
  type: 'run.summarized'
  /** `provider:modelId`. */
  model: string
  /** Characters of the summary (the text is on the run record). */
  length: number
  spend: ModelSpend
}
/** Writing a run's summary failed: a warning, the run's state is unchanged. */
export interface RunSummaryFailedEvent extends RunEventBase {
  type: 'run.summary_failed'
  error: SerializedError
}
/** Periodic progress of a run (throttled; always sent once at the end). */
export interface RunProgressEvent extends RunEventBase {
  type: 'run.progress'
  progress: RunProgress
}
/** A task attempt started on an agent instance. */
export interface TaskStartedEvent extends RunEventBase {
  type: 'task.started'
  taskId: TaskId
  attempt: number
  agent: string
  instanceId: AgentId
}
/** A handler reported progress through `ctx.progress`. */
export interface TaskProgressEvent extends RunEventBase {
  type: 'task.progress'
  taskId: TaskId
  attempt: number
  fraction: number
  note: string | undefined
}
/** A task attempt failed and will be retried after `delayMs`. */
export interface TaskRetryingEvent extends RunEventBase {
  type: 'task.retrying'
  taskId: TaskId
  attempt: number
  delayMs: number
  error: SerializedError
}
/** A task succeeded. */
export interface TaskSucceededEvent extends RunEventBase {
  type: 'task.succeeded'
  taskId: TaskId
  attempt: number
  durationMs: number
}
/** A task failed for good (retries and fallback exhausted). */
export interface TaskFailedEvent extends RunEventBase {
  type: 'task.failed'
  taskId: TaskId
  attempt: number
  error: SerializedError
  tolerated: boolean
}
/** A task was skipped because its condition was false. */
export interface TaskSkippedEvent extends RunEventBase {
  type: 'task.skipped'
  taskId: TaskId
  reason: string
}
/** A task was cancelled (its run was cancelled or failed). */
export interface TaskCancelledEvent extends RunEventBase {
  type: 'task.cancelled'
  taskId: TaskId
  reason: string
}
/** A line a handler logged through `ctx.log`. */
export interface TaskLogEvent extends RunEventBase {
  type: 'task.log'
  taskId: TaskId
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  data?: unknown
}
