import { resolve } from 'node:path'
import { FlotillaError } from '../core/errors.js'
import { defineAgent } from '../agents/define-agent.js'
import { loadAgentSpec, parseAgentSpec } from '../agents/spec.js'
import type { Bus, Subscription } from '../messaging/bus.js'
import type { Permission } from '../security/permissions.js'
import type { ExecuteOptions, ResourceLimits } from '../runtimes/runtime.js'
import type { AgentSupervisor } from '../runtimes/supervisor.js'
import type { TreeBudgetState } from '../runtimes/tree-budget.js'
import type {
  AgentDeployment,
  AgentInfo,
  AgentTreeNode,
  AgentUsage,
  ClusterUsage,
  DeployOptions,
  SupervisorEvent,
} from '../runtimes/supervisor-types.js'
import type { Registry } from '../registry/registry.js'
import { resolveScaling } from '../agents/scaling.js'
import { DeployedScaling } from './deployed-scaling.js'

/** Options of {@link DeployedAgents.deploy}. */
export type AgentDeployOptions = DeployOptions

/**
 * The deployed agents of an orchestrator (`orchestrator.agents`): deploy
 * from a spec file or object, command, pause, resume, scale, terminate,
 * walk the tree, check permissions, read usage. Each deployed agent is also
 * registered by name, so workflow tasks target it exactly like an
 * in-process agent, and answers bus requests addressed to its name.
 *
 * @example
 * ```ts
 * const parent = await orchestrator.agents.deploy('agents/parent.agent.json')
 * await orchestrator.agents.execute(parent.id, { folder: 'data' })
 * console.log(await orchestrator.agents.tree(parent.id))
 * await orchestrator.agents.terminate(parent.id)
 * ```
 */
export class DeployedAgents {
  /** Live deployed agents by name (the registry routes a name to one of them, round robin). */
  private readonly byName = new Map<
    string,
    { ids: string[]; next: number; unregister: () => void; request: Promise<Subscription> | undefined }
  >()
  /** Registrations and sweeps, one after another. */
  private tracking: Promise<void> = Promise.resolve()
  /** Deployed names under auto-scaling (`scaling` in their spec). */
  readonly scaling: DeployedScaling

  constructor(
    /** The supervisor doing the work. */
    readonly supervisor: AgentSupervisor,
    private readonly registry: Registry,
    private readonly bus: Bus,
  ) {
    this.scaling = new DeployedScaling(supervisor, registry, () => this.tracking)
  }

  /**
   * Deploys an agent from a spec file (JSON or YAML), a spec object (validated
   * against the spec schema) or an already validated deployment, and resolves
   * once it runs. `parentId` (or the spec's `parent`) makes it a child. A
   * relative `workspace` is resolved against the current folder, as the CLI's
   * `--workspace` is.
   */
  async deploy(
    spec: string | AgentDeployment | Record<string, unknown>,
    options: AgentDeployOptions = {},
  ): Promise<AgentInfo> {
    const parsed = typeof spec === 'string' ? await loadAgentSpec(spec) : parseAgentSpec(spec)
    const parentId = options.parentId ?? parsed.parent
    const deployOptions = {
      ...options,
      ...(parentId === undefined ? {} : { parentId }),
      ...(options.workspace === undefined ? {} : { workspace: resolve(options.workspace) }),
    }
    const scaled = parsed.scaling !== undefined && !this.byName.has(parsed.name) && !this.scaling.names.has(parsed.name)
    if (scaled) {
      const scaling = resolveScaling(parsed.scaling, parsed.name)
      this.scaling.names.set(parsed.name, { deployment: parsed, options: deployOptions, scaling, inflight: new Map() })
      this.scaling.checkMin(parsed.name)
    }
    const info = await this.supervisor.deploy(parsed, deployOptions)
    await this.tracking
    if (scaled) await this.scaling.started(parsed.name)
    return info
  }

  /** Runs a command on the agent (its handler on `input`). */
  execute(agentId: string, input: unknown, options?: ExecuteOptions): Promise<unknown> {
    return this.supervisor.execute(agentId, input, options)
  }

  pause(agentId: string): Promise<AgentInfo> {
    return this.supervisor.pause(agentId)
  }

  resume(agentId: string): Promise<AgentInfo> {
    return this.supervisor.resume(agentId)
  }

  /** Changes the agent's resource limits (within its parent's). */
  scale(agentId: string, limits: ResourceLimits): Promise<AgentInfo> {
    return this.supervisor.scale(agentId, limits)
  }

  /** Back to the limits of its spec. */
  resetLimits(agentId: string): Promise<AgentInfo> {
    return this.supervisor.resetLimits(agentId)
  }

  /** Starts a FAILED agent again. */
  restart(agentId: string): Promise<AgentInfo> {
    return this.supervisor.restart(agentId)
  }

  /** Terminates the agent and its subtree, children first. */
  async terminate(agentId: string, reason?: string): Promise<void> {
    await this.supervisor.terminate(agentId, reason)
    await this.tracking
  }

  /** Terminates the agent's children and their subtrees. */
  async terminateChildren(agentId: string): Promise<void> {
    await this.supervisor.terminateChildren(agentId)
    await this.tracking
  }

  status(agentId: string): Promise<AgentInfo> {
    return this.supervisor.status(agentId)
  }

  list(filter?: Parameters<AgentSupervisor['list']>[0]): Promise<AgentInfo[]> {
    return this.supervisor.list(filter)
  }

  children(agentId: string): Promise<AgentInfo[]> {
    return this.supervisor.children(agentId)
  }

  parent(agentId: string): Promise<AgentInfo | undefined> {
    return this.supervisor.parent(agentId)
  }

  tree(agentId: string): Promise<AgentTreeNode> {
    return this.supervisor.tree(agentId)
  }

  checkPermission(agentId: string, resource: string, action: string): Promise<boolean> {
    return this.supervisor.checkPermission(agentId, resource, action)
  }

  /** What a child of `parentId` asking for `asked` would get; `PERMISSION_ESCALATION` if more than the parent holds. */
  inheritedPermissions(parentId: string, asked: readonly Permission[] | undefined): Promise<readonly Permission[]> {
    return this.supervisor.inheritedPermissions(parentId, asked)
  }

  usage(agentId: string): Promise<AgentUsage> {
    return this.supervisor.usage(agentId)
  }

  clusterUsage(): Promise<ClusterUsage> {
    return this.supervisor.clusterUsage()
  }

  /** The agent's own model budget for its tree (`budget.tree`); see {@link AgentSupervisor.treeBudget}. */
  treeBudget(agentId: string): TreeBudgetState | undefined {
    return this.supervisor.treeBudget(agentId)
  }

  /** Sends one message to each child of the agent (every descendant with `subtree`); returns the message ids. */
  async broadcastToChildren(
    agentId: string,
    message: unknown,
    options: { subtree?: boolean; from?: string } = {},
  ): Promise<string[]> {
    const kin = options.subtree ? await this.supervisor.descendants(agentId) : await this.supervisor.children(agentId)
    const names = [...new Set(kin.filter((a) => a.state !== 'TERMINATED').map((a) => a.name))]
    return this.bus.broadcast(names, message, { from: options.from ?? (await this.supervisor.status(agentId)).name })
  }

  /**
   * Follows the supervisor: an agent that starts running (deployed here or
   * spawned by another agent) is registered by name; a terminated one is
   * forgotten.
   */
  observe(event: SupervisorEvent): void {
    if (event.type !== 'agent.state') return
    if (event.to === 'RUNNING' && event.from === 'PENDING') {
      this.tracking = this.tracking
        .then(() => this.supervisor.status(event.agentId).then((info) => this.track(info)))
        .catch(() => undefined)
    } else if (event.to === 'TERMINATED') {
      this.tracking = this.tracking.then(() => this.sweep()).catch(() => undefined)
    }
  }

  /**
   * Marks FAILED the stored agents an orchestrator that is gone left
   * PENDING, RUNNING or PAUSED: process agents whose process no longer
   * exists; with `{ all: true }` (one orchestrator per store) every agent
   * this orchestrator does not hold. Run it at start-up.
   */
  async reconcile(options: { all?: boolean } = {}): Promise<AgentInfo[]> {
    const failed = await this.supervisor.reconcile(options)
    return Promise.all(failed.map((r) => this.supervisor.status(r.id)))
  }

  /** Terminates every deployed agent. */
  async close(): Promise<void> {
    await this.supervisor.close()
    await this.tracking
  }

  /** Registers a newly running agent under its name (once per name) for workflows and requests. */
  private async track(info: AgentInfo): Promise<void> {
    if (info.state === 'TERMINATED') return
    const known = this.byName.get(info.name)
    if (known) {
      if (!known.ids.includes(info.id)) known.ids.push(info.id) // a restart runs again under the same id
      return
    }
    if (this.registry.has(info.name)) {
      return // an in-process agent of that name is registered: workflows keep using it; address the deployed one by id
    }
    const entry = {
      ids: [info.id],
      next: 0,
      unregister: () => this.registry.unregister(info.name),
      request: undefined as Promise<Subscription> | undefined,
    }
    this.byName.set(info.name, entry)
    const scaled = this.scaling.names.get(info.name)
    scaled?.inflight.set(info.id, 0)
    const pick = (): string => {
      // a scaled name: the least busy copy; else round robin over the RUNNING ones
      const least = scaled === undefined ? undefined : this.scaling.leastBusy(scaled, entry.ids)
      if (least !== undefined) return least
      // if none runs, the first one's state makes the error
      for (let i = 0; i < entry.ids.length; i++) {
        const id = entry.ids[entry.next++ % entry.ids.length]
        if (this.supervisor.stateOf(id) === 'RUNNING') return id
      }
      const id = entry.ids[0]
      if (id === undefined)
        throw new FlotillaError('AGENT_TERMINATED', `Every deployed agent named "${info.name}" has terminated.`, {
          details: { agent: info.name },
        })
      return id
    }
    await this.registry.register(
      defineAgent({
        name: info.name,
        version: info.version,
        capabilities: info.capabilities,
        tags: info.tags,
        description: `deployed agent (${info.runtime})`,
        // a scaled name: one registered instance per copy, one command at a time each
        ...(scaled === undefined ? {} : { maxConcurrency: 1 }),
        handler: async (input, ctx) => {
          const id = pick()
          scaled?.inflight.set(id, (scaled.inflight.get(id) ?? 0) + 1)
          try {
            return await this.supervisor.execute(id, input, {
              signal: ctx.signal,
              runId: ctx.runId,
              taskId: ctx.taskId,
              attempt: ctx.attempt,
              ...(ctx.trace === undefined ? {} : { traceparent: ctx.trace.traceparent }),
            })
          } finally {
            scaled?.inflight.set(id, (scaled.inflight.get(id) ?? 1) - 1)
          }
        },
      }),
    )
    entry.request = this.bus.onRequest(info.name, (req) => this.supervisor.execute(pick(), req.body))
  }

  /** Forgets terminated agents; a name with none left is unregistered. */
  private async sweep(): Promise<void> {
    for (const [name, entry] of this.byName) {
      const states = await Promise.all(entry.ids.map((id) => this.supervisor.status(id).then((s) => s.state)))
      entry.ids = entry.ids.filter((_, i) => states[i] !== 'TERMINATED')
      const scaled = this.scaling.names.get(name)
      if (scaled !== undefined)
        for (const id of scaled.inflight.keys()) if (!entry.ids.includes(id)) scaled.inflight.delete(id)
      if (entry.ids.length > 0) continue
      this.scaling.names.delete(name)
      this.byName.delete(name)
      entry.unregister()
      await (await entry.request)?.unsubscribe()
    }
  }
}
