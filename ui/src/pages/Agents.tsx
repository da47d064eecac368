import { useEffect, useState } from 'react'
import { clock, get } from '../api'
import { useApi } from '../hooks'
import { DeadLetters } from './DeadLetters'

interface CatalogAgent {
  name: string
  versions: string[]
  capabilities: string[]
  workers: unknown[]
}
interface Metrics {
  calls: number
  errors: number
  errorRate: number
  meanLatencyMs: number
  p95LatencyMs: number
}
interface Health {
  status: string
  workers: { circuit?: string; status?: string }[]
}
interface Deployed {
  id: string
  name: string
  version: string
  parentId: string | null
  runtime: string
  state: string
  reason: string | null
  pid: number | null
  updatedAt: number
}

function AgentRow({ agent }: { agent: CatalogAgent }) {
  const [m, setM] = useState<Metrics>()
  const [h, setH] = useState<Health>()
  useEffect(() => {
    const n = encodeURIComponent(agent.name)
    void get<Metrics>(`/agents/${n}/metrics`).then(setM, () => undefined)
    void get<Health>(`/agents/${n}/health`).then(setH, () => undefined)
  }, [agent.name])
  const circuits = [...new Set((h?.workers ?? []).map((w) => w.circuit).filter((c) => c !== undefined))]
  return (
    <tr>
      <td>{agent.name}</td>
      <td>{agent.versions.join(', ')}</td>
      <td>{agent.capabilities.join(', ') || '—'}</td>
      <td>{agent.workers.length}</td>
      <td>{m?.calls ?? '—'}</td>
      <td>{m === undefined ? '—' : `${(m.errorRate * 100).toFixed(1)} %`}</td>
      <td>{m === undefined ? '—' : `${Math.round(m.p95LatencyMs)} ms`}</td>
      <td>{circuits.join(', ') || '—'}</td>
      <td>
        <span className={`badge ${h?.status ?? ''}`}>{h?.status ?? '—'}</span>
      </td>
    </tr>
  )
}

function Tree({ nodes, parent }: { nodes: Deployed[]; parent: string | null }) {
  const children = nodes.filter(
    (n) => n.parentId === parent || (parent === null && !nodes.some((p) => p.id === n.parentId)),
  )
  if (children.length === 0) return null
  return (
    <ul className="tree">
      {children.map((n) => (
        <li key={n.id}>
          <b>{n.name}</b>@{n.version} <span className={`badge ${n.state}`}>{n.state}</span> {n.runtime}
          {n.pid !== null && ` · pid ${n.pid}`} · {clock(n.updatedAt)}
          {n.reason !== null && <span className="hint"> · {n.reason}</span>}
          <Tree nodes={nodes.filter((x) => x !== n)} parent={n.id} />
        </li>
      ))}
    </ul>
  )
}

/** The agent registry with metrics, circuits and health; the tree of deployed agents; the dead letters of their mailboxes. */
export function AgentsPage() {
  const catalog = useApi<{ agents: CatalogAgent[] }>('/agents', 10_000)
  const deployed = useApi<{ agents: Deployed[] }>('/deployed-agents', 10_000)
  return (
    <section>
      <h1>Agents</h1>
      {catalog.error !== undefined && <p className="error">{catalog.error.message}</p>}
      <table className="grid" data-testid="agents">
        <thead>
          <tr>
            <th>Agent</th>
            <th>Versions</th>
            <th>Capabilities</th>
            <th>Workers</th>
            <th>Calls</th>
            <th>Error rate</th>
            <th>p95</th>
            <th>Circuit</th>
            <th>Health</th>
          </tr>
        </thead>
        <tbody>
          {(catalog.data?.agents ?? []).map((a) => (
            <AgentRow key={a.name} agent={a} />
          ))}
        </tbody>
      </table>
      {catalog.data?.agents.length === 0 && <p className="hint">No agent registered by a live worker.</p>}
      <h2>Deployed agents</h2>
      {deployed.error !== undefined && <p className="error">{deployed.error.message}</p>}
      {deployed.data !== undefined &&
        (deployed.data.agents.length === 0 ? (
          <p className="hint">None deployed (flotilla serve --agent-modules DIR deploys through the API).</p>
        ) : (
          <Tree nodes={deployed.data.agents} parent={null} />
        ))}
      <DeadLetters />
    </section>
  )
}
