import type { SerializedError } from './errors.js'
import type { AgentId, RunId, TaskId } from './ids.js'
import type { TaskState } from './states.js'

/** Fields every event has. */
export interface EventBase {
  /** Wall-clock milliseconds since the epoch. */
  at: number
  runId: RunId
}

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

/** A run was created and started (`parentRunId`: the run it replays). */
export interface RunStartedEvent extends EventBase {
  type: 'run.started'
  workflow: string
  tasks: number
  parentRunId?: RunId
}
/** A stored, unfinished run was picked up again after a restart (`done` tasks were kept). */
export interface RunRecoveredEvent extends EventBase {
  type: 'run.recovered'
  done: number
  tasks: number
}
/** A paused run. */
export interface RunPausedEvent extends EventBase {
  type: 'run.paused'
  /** Set when the pause was written by another process (`flotilla runs pause` in another terminal, a client). */
  by?: 'another process'
}
/**
 * A task of the run waits because no live worker offers what it needs (its
 * agent, a version in its range, or its capability); it starts once one does.
 */
export interface RunWaitingEvent extends EventBase {
  type: 'run.waiting'
  taskId: TaskId
  agent?: string
  capability?: string
  reason: string
}
/** A resumed run. */
export interface RunResumedEvent extends EventBase {
  type: 'run.resumed'
}
/** A run finished with every required task succeeded. */
export interface RunSucceededEvent extends EventBase {
  type: 'run.succeeded'
  durationMs: number
}
/** A run finished because a task failed. */
export interface RunFailedEvent extends EventBase {
  type: 'run.failed'
  durationMs: number
  error: SerializedError
}
/** A run was cancelled. */
export interface RunCancelledEvent extends EventBase {
  type: 'run.cancelled'
  durationMs: number
  reason: string
}
/** Periodic progress of a run (throttled; always sent once at the end). */
export interface RunProgressEvent extends EventBase {
  type: 'run.progress'
  progress: RunProgress
}
/** A task attempt started on an agent instance. */
export interface TaskStartedEvent extends EventBase {
  type: 'task.started'
  taskId: TaskId
  attempt: number
  agent: string
  instanceId: AgentId
}
/** A handler reported progress through `ctx.progress`. */
export interface TaskProgressEvent extends EventBase {
  type: 'task.progress'
  taskId: TaskId
  attempt: number
  fraction: number
  note: string | undefined
}
/** A task attempt failed and will be retried after `delayMs`. */
export interface TaskRetryingEvent extends EventBase {
  type: 'task.retrying'
  taskId: TaskId
  attempt: number
  delayMs: number
  error: SerializedError
}
/** A task succeeded. */
export interface TaskSucceededEvent extends EventBase {
  type: 'task.succeeded'
  taskId: TaskId
  attempt: number
  durationMs: number
}
/** A task failed for good (retries and fallback exhausted). */
export interface TaskFailedEvent extends EventBase {
  type: 'task.failed'
  taskId: TaskId
  attempt: number
  error: SerializedError
  tolerated: boolean
}
/** A task was skipped because its condition was false. */
export interface TaskSkippedEvent extends EventBase {
  type: 'task.skipped'
  taskId: TaskId
  reason: string
}
/** A task was cancelled (its run was cancelled or failed). */
export interface TaskCancelledEvent extends EventBase {
  type: 'task.cancelled'
  taskId: TaskId
  reason: string
}
/** A line a handler logged through `ctx.log`. */
export interface TaskLogEvent extends EventBase {
  type: 'task.log'
  taskId: TaskId
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  data?: unknown
}

/** Tokens one model call (or a sum of calls) used. */
export interface TokenUsage {
  /** Prompt tokens, cached ones included. */
  inputTokens: number
  /** Completion tokens, reasoning included. */
  outputTokens: number
  /** Of `outputTokens`, those spent on reasoning (thinking). */
  reasoningTokens: number
  /** Of `inputTokens`, those read from the provider's prompt cache. */
  cachedInputTokens: number
}

/** What one model call of a language-model agent used and cost. */
export interface ModelCallReport {
  /** The agent that made the call. */
  agent: string
  /** `provider:modelId`. */
  model: string
  /** 0-based number of the call within the task (across its attempts). */
  call: number
  usage: TokenUsage
  /** US dollars, from the price table; 0 when the model has no price. */
  costUsd: number
  durationMs: number
  /** True when the answer came from the task's journal (a call finished by an earlier attempt): nothing was paid again. */
  replayed: boolean
  /** Why the model stopped: `stop`, `tool-calls`, `length`… */
  finishReason: string
  /** What the model answered: its reasoning, text and tool calls (long texts cut at 2,000 characters). */
  answer?: ModelAnswerPart[]
}

/** One part of a model's answer, as traces show it. */
export type ModelAnswerPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'tool-call'; callId: string; tool: string; input: string }

/** A language-model agent made a model call (or replayed one from its journal). */
export interface ModelCalledEvent extends EventBase, ModelCallReport {
  type: 'model.called'
  taskId: TaskId
  attempt: number
}

/** A budget of a language-model agent is 80 % spent. */
export interface BudgetWarningEvent extends EventBase {
  type: 'budget.warning'
  taskId: TaskId
  agent: string
  /** Which budget: `task`, `run` or `agent`. */
  scope: string
  /** What is measured: `tokens`, `costUsd` or `calls`. */
  measure: string
  spent: number
  limit: number
}

/** Every event Flotilla emits, discriminated on `type`. */
export type FlotillaEvent =
  | RunStartedEvent
  | RunRecoveredEvent
  | RunPausedEvent
  | RunWaitingEvent
  | RunResumedEvent
  | RunSucceededEvent
  | RunFailedEvent
  | RunCancelledEvent
  | RunProgressEvent
  | TaskStartedEvent
  | TaskProgressEvent
  | TaskRetryingEvent
  | TaskSucceededEvent
  | TaskFailedEvent
  | TaskSkippedEvent
  | TaskCancelledEvent
  | TaskLogEvent
  | ModelCalledEvent
  | BudgetWarningEvent

/** The `type` of any {@link FlotillaEvent}. */
export type FlotillaEventType = FlotillaEvent['type']

/** The event of one given type. */
export type EventOf<T extends FlotillaEventType> = Extract<FlotillaEvent, { type: T }>
