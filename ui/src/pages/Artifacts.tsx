import { clock } from '../api'
import { useApi } from '../hooks'

interface Artifact {
  id: string
  version: number
  size: number
  tags: string[]
  createdBy: string
  createdAt: number
  basedOn: number | null
  runId: string | null
  taskId: string | null
}

/** The shared context's artifacts: latest versions, what each was based on, and the run and task that wrote it. */
export function ArtifactsPage() {
  const { data, error } = useApi<{ artifacts: Artifact[] }>('/artifacts', 10_000)
  return (
    <section>
      <h1>Artifacts</h1>
      {error !== undefined && <p className="error">{error.message}</p>}
      <table className="grid">
        <thead>
          <tr>
            <th>Id</th>
            <th>Version</th>
            <th>Based on</th>
            <th>Size</th>
            <th>Tags</th>
            <th>Written by</th>
            <th>At</th>
          </tr>
        </thead>
        <tbody>
          {(data?.artifacts ?? []).map((a) => (
            <tr key={`${a.id}@${a.version}`}>
              <td>{a.id}</td>
              <td>{a.version}</td>
              <td>{a.basedOn === null ? '—' : `v${a.basedOn}`}</td>
              <td>{a.size} B</td>
              <td>{a.tags.join(', ')}</td>
              <td>{a.runId === null ? a.createdBy : `${a.runId} / ${a.taskId ?? ''}`}</td>
              <td>{clock(a.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data?.artifacts.length === 0 && <p className="hint">No artifacts.</p>}
    </section>
  )
}
