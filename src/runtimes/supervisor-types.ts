import type { ScalingOptions } from '../agents/scaling.js'
import type { AgentId } from '../core/ids.js'
import type { Clock } from '../core/clock.js'
import type { AgentState } from '../core/states.js'
import type { AgentMetricsSnapshot } from '../agents/agent-metrics.js'
import type { ServiceCall } from '../agents/service-members.js'
import type { ChildAgentRef, TemplateSpawnRequest } from '../agents/context.js'
import type { Permission, PermissionSet } from '../security/permissions.js'
import type { Budget } from '../models/budget.js'
import type { AgentStore } from '../store/store.js'
import type { ResourceLimits, ResourceUsage, Runtime, RuntimeEvent } from './runtime.js'

/** What to deploy: a validated agent spec (see `parseAgentSpec`) or an object of the same shape. */
export interface AgentDeployment {
  /** Agent name; also its address on the bus (`agent:<name>`). */
  readonly name: string
  /** @default "1.0.0" */
  readonly version?: string
  /** Absolute path of the module holding the handler (`''` with `model`). */
  readonly module: string
  /** A language-model agent without a module: the spec's `model:` block. */
  readonly model?: Readonly<Record<string, unknown>>
  /** The export holding the agent definition. @default "default" */
  readonly export?: string
  /** Tool names the agent may call. */
  readonly tools?: readonly string[]
  /** Module exporting the tools; defaults to `module`. */
  readonly toolsModule?: string
  /** Permissions asked for; a child's must be within its parent's. @default [] for a root, the parent's for a child */
  readonly permissions?: readonly Permission[]
  /** Resource limits asked for; a child's must be within its parent's. */
  readonly limits?: ResourceLimits
  /** Environment variables of the agent. */
  readonly env?: Readonly<Record<string, string>>
  /**
   * Model budgets. `tree`: what the model calls of the agent and its whole
   * subtree may use, in tokens, dollars and calls; a child's is carved out
   * of its parent's at spawn (`BUDGET_EXCEEDED` when the parent has not that
   * much left), a child without one draws on its parent's.
   */
  readonly budget?: { readonly tree?: Budget }
  /** `inprocess` or `process`; defaults to the parent's, then the supervisor's default. */
  readonly runtime?: string
  readonly capabilities?: readonly string[]
  readonly tags?: readonly string[]
  readonly description?: string
  /** Auto-scaling of the agent's copies (`orchestrator.agents.deploy`): see {@link ScalingOptions}. */
  readonly scaling?: ScalingOptions
}

/** Options of {@link AgentSupervisor.deploy}. */
export interface DeployOptions {
  /** Makes the new agent a child of this one (permissions and limits carved from it). */
  readonly parentId?: string
  /** Overrides the runtime. */
  readonly runtime?: string
  /**
   * Workspace folder. Default: a child shares its parent's (its permissions
   * say which paths it may touch); a root gets `<workspaceRoot>/<name>-<id>`
   * (removed if the deploy fails).
   */
  readonly workspace?: string
}

/** A deployed agent as the supervisor reports it. */
export interface AgentInfo {
  readonly id: AgentId
  readonly name: string
  readonly version: string
  readonly parentId: AgentId | null
  readonly runtime: string
  readonly state: AgentState
  /** Why it is in this state (failure reason, `terminated by parent`…). */
  readonly reason: string | null
  readonly permissions: readonly Permission[]
  readonly limits: ResourceLimits
  readonly pid: number | null
  readonly capabilities: readonly string[]
  readonly tags: readonly string[]
  readonly createdAt: number
  readonly updatedAt: number
}

/** An agent with its descendants. */
export interface AgentTreeNode extends AgentInfo {
  readonly children: readonly AgentTreeNode[]
}

/** What the supervisor reports as it works. */
export type SupervisorEvent =
  | {
      readonly type: 'agent.state'
      readonly agentId: string
      readonly name: string
      readonly from: AgentState | null
      readonly to: AgentState
      readonly reason: string | null
      readonly at: number
    }
  | {
      readonly type: 'agent.event'
      readonly agentId: string
      readonly name: string
      readonly event: RuntimeEvent
      readonly at: number
    }

/** Per-agent usage and metrics. */
export interface AgentUsage extends ResourceUsage {
  readonly agentId: string
  readonly name: string
  readonly state: AgentState
  readonly metrics: AgentMetricsSnapshot
}

/** Totals over every live agent of a supervisor. */
export interface ClusterUsage {
  readonly agents: number
  readonly byState: Readonly<Record<AgentState, number>>
  readonly memoryBytes: number
  readonly cpuMs: number
  readonly storageBytes: number
  readonly commands: number
  readonly errors: number
}

/** Options of {@link AgentSupervisor}. */
export interface SupervisorOptions {
  /** Where agent records and their transitions are stored (write-ahead). */
  readonly store: AgentStore
  /** The runtimes agents may be deployed on, by kind. */
  readonly runtimes: readonly Runtime[]
  /** Runtime of a root agent whose spec names none. @default the first of `runtimes` */
  readonly defaultRuntime?: string
  /** Folder under which each agent gets its workspace. */
  readonly workspaceRoot: string
  /** Limits of a root agent whose spec sets none. @default {} (unlimited) */
  readonly defaultLimits?: ResourceLimits
  /** @default systemClock */
  readonly clock?: Clock
  /** Receives every lifecycle transition and every event an agent reports. */
  readonly onEvent?: (event: SupervisorEvent) => void
  /**
   * The outward services (messages, artifacts, cache) of a deployed agent;
   * called once per agent. `spawn` and `child.*` are the supervisor's own.
   */
  readonly services?: (agent: AgentInfo, permissions: PermissionSet) => ServiceCall
  /**
   * Serves `ctx.spawn({ template })` of a deployed agent: makes the agent
   * from the template, carved from the spawner's permissions and what its
   * tree budget has left. Without it such a spawn is `AGENT_STATE_INVALID`.
   */
  readonly spawnTemplate?: (spawner: TemplateSpawner, request: TemplateSpawnRequest) => ChildAgentRef
}

/** A deployed agent spawning from a template, as {@link SupervisorOptions.spawnTemplate} is told of it. */
export interface TemplateSpawner {
  readonly agent: AgentInfo
  /** Its permissions: the spawned agent gets at most these. */
  readonly permissions: readonly Permission[]
  /** What is left of the tree budget it draws on, per measure limited (each of the spawned agent's budgets is bounded by it); `undefined`: no tree budget. */
  readonly budgetLeft: Budget | undefined
  /** The run and task of the command that spawns, when that command runs a workflow task. */
  readonly runId?: string
  readonly taskId?: string
  /** Charges what the spawned agent's model calls used to the spawner's tree budget. */
  charge(used: { tokens: number; costUsd: number; calls: number }): void
}
