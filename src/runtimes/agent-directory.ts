import { storedLimits } from './limits.js'
import { asAgentId } from '../core/ids.js'
import { rmdirSync } from 'node:fs'
import { FlotillaError } from '../core/errors.js'
import type { AgentState } from '../core/states.js'
import type { Permission } from '../security/permissions.js'
import type { AgentRecord } from '../store/records.js'
import type { AgentStore } from '../store/store.js'
import { reconcileAgents } from './reconcile.js'
import type { AgentInfo, AgentTreeNode } from './supervisor-types.js'
import type { ResourceLimits } from './runtime.js'

/** The public view of a stored agent record. */
export function info(record: AgentRecord): AgentInfo {
  const spec = (record.spec ?? {}) as { capabilities?: string[]; tags?: string[] }
  return {
    id: record.id,
    name: record.name,
    version: record.version,
    parentId: record.parentId,
    runtime: record.runtime,
    state: record.state,
    reason: record.reason,
    permissions: (record.permissions ?? []) as Permission[],
    limits: storedLimits(record),
    pid: record.pid,
    capabilities: spec.capabilities ?? [],
    tags: spec.tags ?? [],
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  }
}

/**
 * Read-only queries over deployed agents: the live ones held in memory,
 * the rest from the store (the source of truth). The supervisor extends it.
 */
export class AgentDirectory<
  L extends { record: AgentRecord; readonly workspace?: string; readonly ownWorkspace?: boolean },
> {
  /** Agents deployed by this process, by id. */
  protected readonly live = new Map<string, L>()

  constructor(
    protected readonly agents: AgentStore,
    /** Wall-clock milliseconds, for the transitions it writes. */
    private readonly wallNow: () => number = Date.now,
  ) {}

  /**
   * Marks FAILED the stored agents an orchestrator that is gone left
   * PENDING, RUNNING or PAUSED (see {@link reconcileAgents}); agents held
   * here are left alone.
   */
  reconcile(options: { all?: boolean } = {}): Promise<AgentRecord[]> {
    return reconcileAgents(this.agents, (id) => this.live.has(id), { ...options, now: this.wallNow() })
  }

  /** The state of an agent held in memory, or `undefined` (synchronous, for routing). */
  stateOf(agentId: string): AgentState | undefined {
    return this.live.get(agentId)?.record.state
  }

  /** The resource limits of an agent held in memory, or `undefined` (synchronous, for auto-scaling). */
  limitsOf(agentId: string): ResourceLimits | undefined {
    const entry = this.live.get(agentId)
    return entry === undefined ? undefined : storedLimits(entry.record)
  }

  /** True when an agent of this name deployed here is not terminated (a synchronous check, for message routing). */
  hasLiveName(name: string): boolean {
    for (const e of this.live.values()) if (e.record.name === name && e.record.state !== 'TERMINATED') return true
    return false
  }

  /** True when agents of this name were deployed here and all of them are terminated. */
  isTerminatedName(name: string): boolean {
    let seen = this.gone.has(name)
    for (const e of this.live.values()) {
      if (e.record.name !== name) continue
      if (e.record.state !== 'TERMINATED') return false
      seen = true
    }
    return seen
  }

  /** Names and ids of agents dropped from memory after they terminated (bounded, oldest forgotten first). */
  private readonly gone = new Set<string>()
  private readonly goneIds = new Set<string>()

  /** True for a terminated agent this directory has dropped from memory. */
  protected isForgotten(agentId: string): boolean {
    return this.goneIds.has(agentId)
  }

  /**
   * Drops a terminated agent, and its terminated descendants, from memory
   * once no live parent can ask about them any more; the store keeps their
   * records. Keeps a long-lived orchestrator that spawns children per
   * command from growing without bound. A workspace folder made for the
   * agent (`<workspaceRoot>/<name>-<id>`) is removed when it is empty, so a
   * deploy that wrote nothing leaves nothing behind; one holding files is kept.
   */
  protected forget(agentId: string): void {
    const entry = this.live.get(agentId)
    if (!entry || entry.record.state !== 'TERMINATED') return
    const parent = entry.record.parentId === null ? undefined : this.live.get(entry.record.parentId)
    if (parent && parent.record.state !== 'TERMINATED') return
    const drop = (id: string): void => {
      const e = this.live.get(id)
      if (!e || e.record.state !== 'TERMINATED') return
      for (const child of [...this.live.values()]) if (child.record.parentId === id) drop(child.record.id)
      this.live.delete(id)
      if (e.ownWorkspace && e.workspace !== undefined) removeIfEmpty(e.workspace)
      this.gone.delete(e.record.name)
      this.gone.add(e.record.name)
      this.goneIds.add(id)
      if (this.gone.size > 10_000) this.gone.delete(this.gone.values().next().value as string)
      if (this.goneIds.size > 10_000) this.goneIds.delete(this.goneIds.values().next().value as string)
    }
    drop(agentId)
  }

  /** The agent's stored record; `AGENT_NOT_FOUND` when unknown. */
  async status(agentId: string): Promise<AgentInfo> {
    const entry = this.live.get(agentId)
    if (entry) return info(entry.record)
    const record = await this.agents.getAgent(asAgentId(agentId))
    if (!record) throw this.notFound(agentId)
    return info(record)
  }

  /** Stored agents, oldest first (`parentId: null` for roots only). */
  async list(
    filter: { parentId?: string | null; states?: readonly AgentState[]; name?: string } = {},
  ): Promise<AgentInfo[]> {
    const { parentId, ...rest } = filter
    const stored = parentId === undefined ? rest : { ...rest, parentId: parentId === null ? null : asAgentId(parentId) }
    return (await this.agents.listAgents(stored)).map(info)
  }

  /** The direct children of an agent. */
  async children(agentId: string): Promise<AgentInfo[]> {
    await this.status(agentId)
    return this.list({ parentId: agentId })
  }

  /** The parent of an agent, or `undefined` for a root. */
  async parent(agentId: string): Promise<AgentInfo | undefined> {
    const me = await this.status(agentId)
    return me.parentId === null ? undefined : this.status(me.parentId)
  }

  /** The agent with all its descendants. */
  async tree(agentId: string): Promise<AgentTreeNode> {
    const me = await this.status(agentId)
    const kids = await this.list({ parentId: agentId })
    return { ...me, children: await Promise.all(kids.map((k) => this.tree(k.id))) }
  }

  /** Ids of the agent's descendants, depth-first (for broadcasting to a subtree). */
  async descendants(agentId: string): Promise<AgentInfo[]> {
    const out: AgentInfo[] = []
    const walk = (node: AgentTreeNode): void => {
      for (const c of node.children) {
        out.push(c)
        walk(c)
      }
    }
    walk(await this.tree(agentId))
    return out
  }

  protected notFound(agentId: string): FlotillaError {
    return new FlotillaError('AGENT_NOT_FOUND', `No deployed agent ${agentId}; list agents with supervisor.list().`, {
      details: { agent: agentId },
    })
  }
}

/** Removes a folder only when it is empty (`rmdir` refuses any other); a missing or non-empty folder is left as it is. */
function removeIfEmpty(folder: string): void {
  try {
    rmdirSync(folder)
  } catch {
    // not empty, already gone, or not ours to remove: keep it
  }
}
