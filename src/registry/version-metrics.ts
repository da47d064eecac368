import type { CircuitState } from '../resilience/circuit-breaker.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import type { AgentInstance } from './agent-instance.js'

/** Aggregated metrics of the instances of one agent version (see `Registry.metrics`). */
export interface AgentVersionMetrics {
  agent: string
  version: string
  /** Instances of this version. */
  instances: number
  calls: number
  errors: number
  /** `(calls - errors) / calls`; `1` without calls. */
  successRate: number
  /** Mean latency over all calls of all instances (instance means weighted by their calls); `0` without calls. */
  meanLatencyMs: number
  /** The highest p95 among the instances: an upper bound of the true p95, not a merge of their windows. */
  p95LatencyMs: number
  /** The worst circuit among the instances: OPEN > HALF_OPEN > CLOSED. */
  circuit: CircuitState
  /** Handlers that timed out (`TASK_TIMEOUT`) but have not returned yet: they still hold their instance's slots. */
  lateHandlers: number
}

const CIRCUIT_RANK: Record<CircuitState, number> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 }

/**
 * Aggregates the metrics of the instances of one agent version: calls and
 * errors summed, mean latency weighted by calls, p95 the highest instance
 * p95 (an upper bound, not a merged percentile), circuit the worst one.
 *
 * @example
 * ```ts
 * aggregateVersionMetrics(definition, instances) // { agent, version, instances: 3, calls: 120, ... }
 * ```
 */
export function aggregateVersionMetrics(
  definition: AnyAgentDefinition,
  instances: readonly AgentInstance[],
): AgentVersionMetrics {
  let calls = 0
  let errors = 0
  let latencySum = 0
  let p95 = 0
  let circuit: CircuitState = 'CLOSED'
  let lateHandlers = 0
  for (const inst of instances) {
    lateHandlers += inst.late
    const m = inst.metrics.snapshot()
    calls += m.calls
    errors += m.errors
    latencySum += m.meanLatencyMs * m.calls
    p95 = Math.max(p95, m.p95LatencyMs)
    const c = inst.breaker.state
    if (CIRCUIT_RANK[c] > CIRCUIT_RANK[circuit]) circuit = c
  }
  return {
    agent: definition.name,
    version: definition.version,
    instances: instances.length,
    calls,
    errors,
    successRate: calls === 0 ? 1 : (calls - errors) / calls,
    meanLatencyMs: calls === 0 ? 0 : latencySum / calls,
    p95LatencyMs: p95,
    circuit,
    lateHandlers,
  }
}
