/**
 * Usage of deployed agents: what one agent uses now, with its command
 * metrics, and the totals over all the agents a supervisor holds.
 */
import type { AgentState } from '../core/states.js'
import type { LiveAgent } from './live-agent.js'
import type { AgentUsage, ClusterUsage } from './supervisor-types.js'

/** What the agent uses now (nothing once it has no handle), with its command metrics; `at` dates a usage of nothing. */
export async function agentUsage(entry: LiveAgent, at: number): Promise<AgentUsage> {
  const u = entry.handle
    ? await entry.handle.usage()
    : { memoryBytes: 0, heapUsedBytes: 0, cpuMs: 0, storageBytes: 0, at }
  return {
    ...u,
    agentId: entry.record.id,
    name: entry.record.name,
    state: entry.record.state,
    metrics: entry.metrics.snapshot(),
  }
}

/** Totals over the agents that are not terminated (every agent is counted by state); a usage that fails counts nothing. */
export async function clusterUsage(entries: Iterable<LiveAgent>): Promise<ClusterUsage> {
  const byState: Record<AgentState, number> = { PENDING: 0, RUNNING: 0, PAUSED: 0, FAILED: 0, TERMINATED: 0 }
  let memoryBytes = 0
  let cpuMs = 0
  let storageBytes = 0
  let commands = 0
  let errors = 0
  let agents = 0
  for (const entry of entries) {
    byState[entry.record.state]++
    if (entry.record.state === 'TERMINATED') continue
    agents++
    commands += entry.metrics.calls
    errors += entry.metrics.snapshot().errors
    if (!entry.handle) continue
    const u = await entry.handle.usage().catch(() => undefined)
    if (!u) continue
    memoryBytes += u.memoryBytes
    cpuMs += u.cpuMs
    storageBytes += u.storageBytes
  }
  return { agents, byState, memoryBytes, cpuMs, storageBytes, commands, errors }
}
