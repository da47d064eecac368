import type { AnyAgentDefinition } from '../agents/define-agent.js'
import type { ResolvedScaling } from '../agents/scaling.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { Registry } from '../registry/registry.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../telemetry/telemetry.js'
import { Autoscaler, type ScalingTarget } from './autoscaler.js'
import type { EventHub } from './event-hub.js'

/** What a scaling target needs of the engine: the attempts waiting for some pools, and a wake-up when they grow. */
export interface ScalingDemand {
  waiting(pools: Iterable<AgentPool>): number
  capacityAdded(pools: Iterable<AgentPool>): void
}

/**
 * The instances of a registered (in-process) agent version as a
 * {@link ScalingTarget}: added and removed through the registry; the
 * attempts waiting in any pool they serve count as demand.
 */
export function registeredTarget(
  registry: Registry,
  demand: ScalingDemand,
  definition: AnyAgentDefinition,
  scaling: ResolvedScaling,
): ScalingTarget {
  const { name, version } = definition
  const live = () => registry.instances().filter((i) => i.definition === definition && i.state !== 'STOPPED')
  const pools = (): Set<AgentPool> => {
    const out = new Set<AgentPool>()
    for (const inst of live()) for (const pool of inst.pools) out.add(pool)
    return out
  }
  return {
    agent: name,
    scaling,
    instances: () => live().map((i) => ({ id: i.id, active: i.active, calls: i.metrics.calls })),
    waiting: () => demand.waiting(pools()),
    add: async () => {
      const inst = await registry.addInstance(name, version)
      demand.capacityAdded(inst.pools)
    },
    remove: async (id) => registry.removeInstance(id),
  }
}

/** An orchestrator's autoscaler: checks every `intervalMs`, its changes delivered as `agent.scaled` events on `hub`. */
export function hubAutoscaler(clock: Clock, intervalMs: number | undefined, hub: EventHub, logger: Logger): Autoscaler {
  return new Autoscaler({ clock, intervalMs, onScaled: (e) => hub.deliver([e]), logger })
}
