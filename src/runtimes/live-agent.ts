/**
 * An agent as the supervisor holds it in memory while it is deployed: its
 * stored record, its deployment, its runtime and handle, its permissions
 * and metrics, and the lock that orders its store writes. Also the deploy
 * request its runtime is given for it.
 */
import { storedLimits } from './limits.js'
import type { AgentMetrics } from '../agents/agent-metrics.js'
import type { ServiceCall } from '../agents/service-members.js'
import type { PermissionSet } from '../security/permissions.js'
import type { AgentRecord } from '../store/records.js'
import type { DeployRequest, Runtime, RuntimeHandle } from './runtime.js'
import type { AgentDeployment } from './supervisor-types.js'

/** One agent deployed by an `AgentSupervisor`. */
export interface LiveAgent {
  record: AgentRecord
  readonly deployment: AgentDeployment
  readonly runtime: Runtime
  readonly workspace: string
  readonly ownWorkspace: boolean
  perms: PermissionSet
  handle: RuntimeHandle | undefined
  readonly metrics: AgentMetrics
  /** Serialises the store writes of this agent so each transition is fenced on the previous one. */
  lock: Promise<unknown>
  services: ServiceCall | undefined
  /** The run and task of each command in flight that runs a workflow task (`runId\u0000taskId` → how many). */
  lineages?: Map<string, number>
}

/**
 * Notes that `entry` runs a command for the task `taskId` of run `runId`
 * (what its spawns from templates may name); the returned function ends it.
 */
export function enterLineage(entry: LiveAgent, runId: string | undefined, taskId: string | undefined): () => void {
  if (runId === undefined || taskId === undefined) return () => undefined
  const key = `${runId}\u0000${taskId}`
  const map = (entry.lineages ??= new Map())
  map.set(key, (map.get(key) ?? 0) + 1)
  return () => {
    const n = (map.get(key) ?? 1) - 1
    if (n <= 0) map.delete(key)
    else map.set(key, n)
  }
}

/** True when `entry` runs a command for that task now. */
export function runsLineage(entry: LiveAgent, runId: string, taskId: string): boolean {
  return entry.lineages?.has(`${runId}\u0000${taskId}`) ?? false
}

/** What the agent's runtime is asked to deploy: its deployment with the id, permissions, limits and workspace it has now. */
export function deployRequestOf(entry: LiveAgent): DeployRequest {
  const d = entry.deployment
  return {
    instanceId: entry.record.id,
    name: entry.record.name,
    module: d.module,
    ...(d.model === undefined ? {} : { model: d.model }),
    exportName: d.export ?? 'default',
    tools: d.tools ?? [],
    ...(d.toolsModule === undefined ? {} : { toolsModule: d.toolsModule }),
    permissions: entry.perms.grants,
    limits: storedLimits(entry.record),
    env: d.env ?? {},
    workspace: entry.workspace,
    ...(entry.record.parentId === null ? {} : { parentId: entry.record.parentId }),
  }
}
