/**
 * The events of the team rather than of one run: deployed agents' lifecycle
 * and reports, instances' health, anomalies and scaling, permission
 * denials, and alerts (with the {@link Alert} they carry). See
 * `TeamEvent` in `events.ts`.
 */
import type { EventBase } from './event-base.js'
import type { RunId, TaskId } from './ids.js'
import type { AgentState } from './states.js'

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
