/**
 * The tree of agents a supervisor holds live, between the stored directory
 * it extends and the lifecycle commands of `AgentSupervisor`: finding a
 * live agent (or saying why it is not: terminated, or unknown), its live
 * children, what its permissions allow and what a child of it would
 * inherit, events delivered to it, and totals over the tree.
 */
import type { BusEvent } from '../messaging/bus.js'
import { inheritPermissions, PermissionSet, type Permission } from '../security/permissions.js'
import { AgentDirectory } from './agent-directory.js'
import { clusterUsage } from './agent-usage.js'
import { terminatedError } from './command-guards.js'
import type { LiveAgent } from './live-agent.js'
import type { ClusterUsage } from './supervisor-types.js'

/** The live agents of a supervisor as a tree; `AgentSupervisor` extends it with their lifecycle. */
export class AgentTree extends AgentDirectory<LiveAgent> {
  /** True when the agent holds `action` on `resource`. */
  async checkPermission(agentId: string, resource: string, action: string): Promise<boolean> {
    const entry = this.live.get(agentId)
    if (entry) return entry.perms.allows(resource, action)
    return new PermissionSet((await this.status(agentId)).permissions).allows(resource, action)
  }

  /** The permissions a child of `parentId` asking for `asked` would get; `PERMISSION_ESCALATION` if it asks for more. */
  async inheritedPermissions(
    parentId: string,
    asked: readonly Permission[] | undefined,
  ): Promise<readonly Permission[]> {
    const parent = await this.status(parentId)
    return inheritPermissions(parent.permissions, asked)
  }

  /** Hands an event of one of the agent's subscriptions (the `subscribe` service op) to its runtime; dropped unless it is running or paused. */
  deliver(agentId: string, subscriptionId: string, event: BusEvent): void {
    const entry = this.live.get(agentId)
    if (entry?.handle && (entry.record.state === 'RUNNING' || entry.record.state === 'PAUSED'))
      entry.handle.deliver?.(subscriptionId, event)
  }

  /** Totals over every agent deployed by this supervisor that is not terminated. */
  clusterUsage(): Promise<ClusterUsage> {
    return clusterUsage(this.live.values())
  }

  /** The live agent with this id; `AGENT_TERMINATED` once it was terminated and forgotten, `AGENT_NOT_FOUND` when unknown. */
  protected requireLive(agentId: string): LiveAgent {
    const entry = this.live.get(agentId)
    if (entry) return entry
    if (this.isForgotten(agentId)) throw terminatedError(agentId)
    throw this.notFound(agentId)
  }

  /** The children of an agent that are live and not terminated. */
  protected liveChildren(agentId: string): LiveAgent[] {
    return [...this.live.values()].filter((e) => e.record.parentId === agentId && e.record.state !== 'TERMINATED')
  }
}
