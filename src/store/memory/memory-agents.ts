import {
  AGENT_LIMITS,
  AGENT_PERMISSIONS,
  AGENT_SPEC,
  agentConflict,
  checkAgentSave,
  type AgentTransitionInput,
  type EncodedAgent,
} from '../agents.js'
import type { AgentFilter, AgentRecord, AgentTransition } from '../records.js'

interface AgentEntry {
  /** The record with its JSON fields as JSON text, so every read returns a fresh copy. */
  stored: EncodedAgent
  transitions: AgentTransition[]
}

/**
 * The agent records of a {@link MemoryStore}, with the semantics of the SQL
 * adapters: fenced saves, JSON fields copied through their JSON text (so a
 * value comes back as SQLite or PostgreSQL would return it, and callers
 * cannot change what is stored).
 */
export class MemoryAgents {
  private readonly agents = new Map<string, AgentEntry>()

  /** {@link AgentStore.saveAgent}, done before returning. */
  save(record: AgentRecord, transition: AgentTransitionInput): void {
    const encoded = checkAgentSave(record, transition)
    const entry = this.agents.get(record.id)
    const stored = entry?.stored.record.state
    if (transition.from === null ? entry !== undefined : stored !== transition.from)
      throw agentConflict(record.id, transition, stored)
    const next: EncodedAgent = {
      ...encoded,
      record: {
        ...record,
        spec: undefined,
        permissions: undefined,
        limits: undefined,
        createdAt: entry?.stored.record.createdAt ?? record.createdAt,
      },
    }
    const step: AgentTransition = {
      agentId: record.id,
      seq: (entry?.transitions.length ?? 0) + 1,
      from: transition.from,
      to: transition.to,
      reason: transition.reason,
      at: transition.at,
    }
    if (entry === undefined) {
      this.agents.set(record.id, { stored: next, transitions: [step] })
    } else {
      entry.stored = next
      entry.transitions.push(step)
    }
  }

  /** {@link AgentStore.getAgent} */
  get(id: string): AgentRecord | undefined {
    const entry = this.agents.get(id)
    return entry && decode(entry.stored)
  }

  /** {@link AgentStore.listAgents} */
  list(filter: AgentFilter = {}): AgentRecord[] {
    const states = filter.states === undefined ? undefined : new Set(filter.states)
    const out: EncodedAgent[] = []
    for (const { stored } of this.agents.values()) {
      const r = stored.record
      if (filter.parentId !== undefined && r.parentId !== filter.parentId) continue
      if (states !== undefined && !states.has(r.state)) continue
      if (filter.name !== undefined && r.name !== filter.name) continue
      out.push(stored)
    }
    out.sort(
      (a, b) =>
        a.record.createdAt - b.record.createdAt || (a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0),
    )
    return out.map(decode)
  }

  /** {@link AgentStore.listAgentTransitions} */
  transitions(agentId: string): AgentTransition[] {
    return (this.agents.get(agentId)?.transitions ?? []).map((t) => ({ ...t }))
  }

  /** {@link AgentStore.pruneAgents} */
  prune(before: number): number {
    let deleted = 0
    for (const [id, { stored }] of this.agents) {
      if (stored.record.state === 'TERMINATED' && stored.record.updatedAt < before) {
        this.agents.delete(id)
        deleted++
      }
    }
    return deleted
  }
}

function decode(stored: EncodedAgent): AgentRecord {
  return {
    ...stored.record,
    spec: AGENT_SPEC.decode(stored.spec, stored.record.id),
    permissions: AGENT_PERMISSIONS.decode(stored.permissions, stored.record.id),
    limits: AGENT_LIMITS.decode(stored.limits, stored.record.id),
  }
}
