import { FlotillaError } from '../core/errors.js'
import type { ResolvedScaling } from '../agents/scaling.js'
import { carveLimits } from '../runtimes/limits.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { Registry } from '../registry/registry.js'
import type { AgentSupervisor } from '../runtimes/supervisor.js'
import type { AgentDeployment, DeployOptions } from '../runtimes/supervisor-types.js'
import type { Autoscaler, ScalingTarget } from './autoscaler.js'
import { registeredTarget, type ScalingDemand } from './scaling-targets.js'

/** A deployed agent name under auto-scaling: how to start one more copy, and the commands in flight per copy. */
export interface ScaledName {
  readonly deployment: AgentDeployment
  readonly options: DeployOptions
  readonly scaling: ResolvedScaling
  /** Commands in flight per deployed agent id. */
  readonly inflight: Map<string, number>
}

/**
 * Auto-scaling of deployed agents (process or pod runtime): each copy is a
 * deployed agent of the same spec and parent (so its permissions and limits
 * are carved from the parent's like any child), served through one
 * registered instance per copy running one command at a time; the
 * autoscaler adds copies when attempts wait and terminates idle ones.
 */
export class DeployedScaling {
  readonly names = new Map<string, ScaledName>()
  private autoscaler: { scaler: Autoscaler; demand: ScalingDemand } | undefined

  constructor(
    private readonly supervisor: AgentSupervisor,
    private readonly registry: Registry,
    /** Waits until the registrations of agents that just started are done. */
    private readonly settled: () => Promise<void>,
  ) {}

  /** Lets the orchestrator's autoscaler scale deployed agents. */
  use(scaler: Autoscaler, demand: ScalingDemand): void {
    this.autoscaler = { scaler, demand }
  }

  /** After the first copy of a scaled name runs: starts the other `min - 1` copies and hands the name to the autoscaler. */
  async started(name: string): Promise<void> {
    const scaled = this.names.get(name)
    if (scaled === undefined) return
    for (let k = 1; k < scaled.scaling.min; k++) await this.addCopy(scaled)
    const a = this.autoscaler
    const definition = this.registry.getDefinition(name)
    if (a === undefined || definition === undefined) return
    const base = registeredTarget(this.registry, a.demand, definition, scaled.scaling)
    const target: ScalingTarget = {
      ...base,
      fit: (from, wanted) => this.fit(scaled, from, wanted),
      add: async () => {
        const pools = await this.addCopy(scaled)
        a.demand.capacityAdded(pools)
      },
      remove: async (id) => {
        if (!this.registry.removeInstance(id)) return false
        const victim = this.leastBusy(scaled)
        if (victim !== undefined) {
          await this.supervisor.terminate(victim, 'scaled down: idle')
          await this.settled()
        }
        return true
      },
    }
    a.scaler.watch(target)
  }

  /**
   * Refuses, with `RESOURCE_LIMIT_EXCEEDED`, a scaled name whose `min`
   * copies would take more than its parent's limits (before any starts).
   */
  checkMin(name: string): void {
    const scaled = this.names.get(name)
    if (scaled === undefined) return
    const cap = this.fit(scaled, 0, scaled.scaling.min)
    if (cap === undefined) return
    this.names.delete(name)
    throw new FlotillaError(
      'RESOURCE_LIMIT_EXCEEDED',
      `Agent "${name}": scaling.min is ${scaled.scaling.min}, but ${cap.reason}; lower scaling.min, ask for smaller limits per copy, or give the parent more.`,
      { details: { agent: name, field: 'scaling.min', fits: cap.to } },
    )
  }

  /**
   * How many of `wanted` copies fit the limits of the name's parent: the
   * limits of the copies, summed, may not exceed the parent's (each limit
   * the parent sets; a copy that sets none takes the parent's whole value,
   * so only one fits). A root's copies are bounded by `max` alone.
   */
  fit(scaled: ScaledName, from: number, wanted: number): { to: number; reason: string } | undefined {
    const parentId = scaled.options.parentId
    const parent = parentId === undefined ? undefined : this.supervisor.limitsOf(parentId)
    if (parent === undefined) return undefined
    const name = scaled.deployment.name
    const each = carveLimits(parent, scaled.deployment.limits ?? {}, name)
    const copies = [...scaled.inflight.keys()].filter((id) => {
      const state = this.supervisor.stateOf(id)
      return state !== undefined && state !== 'TERMINATED'
    })
    let room = Infinity
    let reason = ''
    for (const key of ['memoryMb', 'cpuMs', 'storageMb'] as const) {
      const total = parent[key]
      const one = each[key]
      if (total === undefined || one === undefined) continue
      let used = 0
      for (const id of copies) used += this.supervisor.limitsOf(id)?.[key] ?? 0
      const fits = copies.length + Math.floor((total - used) / one + 1e-9)
      if (fits < room) {
        room = fits
        reason = `each copy takes ${key} ${one} and the parent (${parentId}) holds ${total}: room for ${Math.max(0, fits)} ${fits === 1 ? 'copy' : 'copies'}`
      }
    }
    if (room >= wanted) return undefined
    return { to: Math.max(from, Math.min(room, wanted)), reason }
  }

  /** The RUNNING copy with the fewest commands in flight (ties: the first). */
  leastBusy(scaled: ScaledName, ids: readonly string[] = [...scaled.inflight.keys()]): string | undefined {
    let best: string | undefined
    let bestLoad = Infinity
    for (const id of ids) {
      if (this.supervisor.stateOf(id) !== 'RUNNING') continue
      const load = scaled.inflight.get(id) ?? 0
      if (load < bestLoad) [best, bestLoad] = [id, load]
    }
    return best
  }

  private async addCopy(scaled: ScaledName): Promise<Iterable<AgentPool>> {
    const info = await this.supervisor.deploy(scaled.deployment, scaled.options)
    await this.settled()
    scaled.inflight.set(info.id, scaled.inflight.get(info.id) ?? 0)
    const inst = await this.registry.addInstance(scaled.deployment.name)
    return inst.pools
  }
}
