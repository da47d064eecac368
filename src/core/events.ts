import type { SerializedError } from './errors.js'
import type { AgentId, RunId, TaskId } from './ids.js'
import type { ModelSpend } from './model-spend.js'
import type { AgentState, TaskState } from './states.js'

/** Fields every event has. */
export interface EventBase {
  /** Wall-clock milliseconds since the epoch. */
  at: number
  /**
   * Who acted, when a principal did: `key:<id>` (an API key), `cli`,
   * `agent:<name>`, or what the caller passed as `actor`. Absent for what
   * the engine did by itself (a retry, a task finishing).
   */
  actor?: string
}

/** Fields every event of a run has. */
export interface RunEventBase extends EventBase {
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
  /** What the model answered: its reasoning, text and tool calls (long texts cut at 2,000 characters, except in debug mode). */
  answer?: ModelAnswerPart[]
  /** Debug mode only: the messages sent to the model (the conversation so far), as JSON. */
  prompt?: unknown[]
}

/** One part of a model's answer, as traces show it. */
export type ModelAnswerPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'tool-call'; callId: string; tool: string; input: string }

/** A language-model agent made a model call (or replayed one from its journal). */
export interface ModelCalledEvent extends RunEventBase, ModelCallReport {
  type: 'model.called'
  taskId: TaskId
  attempt: number
}

/** A budget of a language-model agent is 80 % spent. */
export interface BudgetWarningEvent extends RunEventBase {
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

/** The lifecycle state of a deployed agent changed (see `docs/agents-as-processes.md`). */
export interface AgentStateEvent extends EventBase {
  type: 'agent.state'
  agentId: string
  name: string
  /** `null` for the first state. */
  from: AgentState | null
  to: AgentState
  /** Why (a failure, `terminated by parent`…); `null` when nothing was said. */
  reason: string | null
}

/** A deployed agent reported something from its side: a log line, progress, a tool call, a custom event. */
export interface AgentReportedEvent extends EventBase {
  type: 'agent.reported'
  agentId: string
  name: string
  /** What it reported: its `type` (`log`, `progress`, `tool.called`, `model.called`, `custom`…) and JSON-safe data. */
  report: { type: string; data: Readonly<Record<string, unknown>> }
}

/** The health of a registered agent instance changed (the health monitor's checks). */
export interface AgentHealthEvent extends EventBase {
  type: 'agent.health'
  agent: string
  version: string
  instanceId: string
  /** `INITIALIZING`, `HEALTHY`, `DEGRADED`, `RECOVERING` or `FAILED`. */
  from: string
  to: string
  detail: string
}

/** An agent's latency or error rate departed from its own baseline (the anomaly detector). */
export interface AgentAnomalyEvent extends EventBase {
  type: 'agent.anomaly'
  agent: string
  metric: 'latency' | 'errorRate'
  value: number
  mean: number
  stdDev: number
  z: number
}

/**
 * The autoscaler changed how many instances an agent has (`scaling` on the
 * agent): `from` and `to` instances, and why (`3 attempts waiting, over 1
 * per instance`, `an instance idle for 30000 ms`). With `wanted`, the policy
 * asked for more than the limits of the agent's tree allow: `to` is what
 * fits (`to === from`: the scale-up was skipped) and `reason` says which
 * limit stopped it.
 */
export interface AgentScaledEvent extends EventBase {
  type: 'agent.scaled'
  agent: string
  from: number
  to: number
  reason: string
  /** The count the policy asked for, when the limits allowed fewer. */
  wanted?: number
}

/** An agent was refused an access (a tool, a file, an artifact, a cache key, a message, an event). */
export interface PermissionDeniedEvent extends EventBase {
  type: 'permission.denied'
  /** The agent's name. */
  agent: string | undefined
  /** The deployed agent's id, for a deployed agent. */
  agentId?: string
  /** The resource as grants name it, e.g. `artifact:report`. */
  resource: string
  action: string
  /** Why, as the error's `details.reason` says it. */
  reason: string
  /** The run and task the agent was working on, for a registered agent's task. */
  runId?: RunId
  taskId?: TaskId
}

/** How urgent an alert is. */
export type AlertSeverity = 'warning' | 'critical'

/**
 * An alert of an {@link AlertRule}: raised when a measured value crossed
 * its threshold, resolved when it went back under (see `docs/observability.md`).
 */
export interface Alert {
  /** Unique per raising: `alr_…`. */
  id: string
  /** The id of the rule that raised it. */
  rule: string
  severity: AlertSeverity
  state: 'raised' | 'resolved'
  /** What happened, in a sentence. */
  message: string
  /** What it is about: an agent (by name), a run, both, or neither (the hourly cost of the whole team). */
  subject: { agent?: string; run?: string }
  /** The value measured when it was raised (or, once resolved, when it was resolved). */
  value: number
  /** The rule's threshold. */
  threshold: number
  /** Wall-clock ms. */
  raisedAt: number
  /** Wall-clock ms; set once resolved. */
  resolvedAt?: number
}

/** An alert was raised (see {@link Alert}). */
export interface AlertRaisedEvent extends EventBase {
  type: 'alert.raised'
  alert: Alert
}

/** An alert was resolved: its value went back under the threshold (less the hysteresis), or its run ended. */
export interface AlertResolvedEvent extends EventBase {
  type: 'alert.resolved'
  alert: Alert
}

/** Every event of a run (stored in its event log), discriminated on `type`. */
export type RunEvent =
  | RunStartedEvent
  | RunRecoveredEvent
  | RunPausedEvent
  | RunWaitingEvent
  | RunResumedEvent
  | RunSucceededEvent
  | RunFailedEvent
  | RunCancelledEvent
  | RunSummarizedEvent
  | RunSummaryFailedEvent
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

/**
 * The events of agents (lifecycle, reports, health, anomalies), of security
 * (denials) and alerts: not stored in one run's event log.
 */
export type TeamEvent =
  | AgentStateEvent
  | AgentReportedEvent
  | AgentHealthEvent
  | AgentAnomalyEvent
  | AgentScaledEvent
  | PermissionDeniedEvent
  | AlertRaisedEvent
  | AlertResolvedEvent

/**
 * Every event Flotilla emits, discriminated on `type`: the events of runs
 * ({@link RunEvent}, stored with their run) and those of agents and security
 * ({@link TeamEvent}). `orchestrator.on('*')` hears all of them.
 */
export type FlotillaEvent = RunEvent | TeamEvent

/** The `type` of any {@link FlotillaEvent}. */
export type FlotillaEventType = FlotillaEvent['type']

/** The event of one given type. */
export type EventOf<T extends FlotillaEventType> = Extract<FlotillaEvent, { type: T }>

const TEAM_EVENT_TYPES: ReadonlySet<string> = new Set<TeamEvent['type']>([
  'agent.state',
  'agent.reported',
  'agent.health',
  'agent.anomaly',
  'permission.denied',
  'alert.raised',
  'alert.resolved',
])

/** True for an event of a run (one a run's event log stores), false for an agent, security or alert event. */
export function isRunEvent(event: FlotillaEvent): event is RunEvent {
  return !TEAM_EVENT_TYPES.has(event.type)
}
