/**
 * Every event Flotilla emits, as one discriminated union
 * ({@link FlotillaEvent}) split into the events of runs ({@link RunEvent})
 * and of the team ({@link TeamEvent}), with {@link isRunEvent} to tell them
 * apart. The event types are defined per area and re-exported from here,
 * which stays the one module to import them from:
 * - `event-base.ts`: the fields every event shares;
 * - `run-events.ts`: `run.*` and `task.*`;
 * - `model-events.ts`: `model.called` and `budget.warning`;
 * - `team-events.ts`: `agent.*`, `permission.denied` and `alert.*`.
 */
import type { BudgetWarningEvent, ModelCalledEvent } from './model-events.js'
import type {
  RunCancelledEvent,
  RunFailedEvent,
  RunPausedEvent,
  RunProgressEvent,
  RunRecoveredEvent,
  RunResumedEvent,
  RunStartedEvent,
  RunSucceededEvent,
  RunSummarizedEvent,
  RunSummaryFailedEvent,
  RunWaitingEvent,
  TaskCancelledEvent,
  TaskFailedEvent,
  TaskLogEvent,
  TaskProgressEvent,
  TaskRetryingEvent,
  TaskSkippedEvent,
  TaskStartedEvent,
  TaskSucceededEvent,
} from './run-events.js'
import type {
  AgentAnomalyEvent,
  AgentHealthEvent,
  AgentReportedEvent,
  AgentScaledEvent,
  AgentStateEvent,
  AlertRaisedEvent,
  AlertResolvedEvent,
  PermissionDeniedEvent,
} from './team-events.js'

export type { EventBase, RunEventBase } from './event-base.js'
export type {
  BudgetWarningEvent,
  ModelAnswerPart,
  ModelCallReport,
  ModelCalledEvent,
  TokenUsage,
} from './model-events.js'
export type {
  RunCancelledEvent,
  RunFailedEvent,
  RunPausedEvent,
  RunProgress,
  RunProgressEvent,
  RunRecoveredEvent,
  RunResumedEvent,
  RunStartedEvent,
  RunSucceededEvent,
  RunSummarizedEvent,
  RunSummaryFailedEvent,
  RunWaitingEvent,
  TaskCancelledEvent,
  TaskFailedEvent,
  TaskLogEvent,
  TaskProgressEvent,
  TaskRetryingEvent,
  TaskSkippedEvent,
  TaskStartedEvent,
  TaskSucceededEvent,
} from './run-events.js'
export type {
  AgentAnomalyEvent,
  AgentHealthEvent,
  AgentReportedEvent,
  AgentScaledEvent,
  AgentStateEvent,
  Alert,
  AlertRaisedEvent,
  AlertResolvedEvent,
  AlertSeverity,
  PermissionDeniedEvent,
} from './team-events.js'

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

/** Every team event's type, as an object so that the compiler refuses a missing or unknown one. */
const TEAM_EVENT_TYPE_KEYS: Record<TeamEvent['type'], true> = {
  'agent.state': true,
  'agent.reported': true,
  'agent.health': true,
  'agent.anomaly': true,
  'agent.scaled': true,
  'permission.denied': true,
  'alert.raised': true,
  'alert.resolved': true,
}
const TEAM_EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(TEAM_EVENT_TYPE_KEYS))

/** True for an event of a run (one a run's event log stores), false for an agent, security or alert event. */
export function isRunEvent(event: FlotillaEvent): event is RunEvent {
  return !TEAM_EVENT_TYPES.has(event.type)
}
