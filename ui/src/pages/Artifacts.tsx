import { useState } from 'react'
import { clock } from '../api'
import { useApi } from '../hooks'
import { linkProps, navigate } from '../router'
import { LineageGraph } from './LineageGraph'
import type { ArtifactVersion, Lineage } from './lineage-model'
import './pages.css'

function WrittenBy({ a }: { a: ArtifactVersion }) {
  if (a.runId === null) return <>{a.createdBy}</>
  return (
    <>
      <a {...linkProps(`/runs/${encodeURIComponent(a.runId)}`)}>{a.runId}</a> / {a.taskId ?? ''}
    </>
  )
}

/** Every kept version of one artifact (`GET /artifacts/{id}/history`), newest first. */
function Versions({ id, onClose }: { id: string; onClose: () => void }) {
  const { data, error } = useApi<{ versions: ArtifactVersion[] }>(
    `/artifacts/${encodeURIComponent(id)}/history`,
    10_000,
  )
  return (
    <section className="panel" data-testid="versions" aria-label={`Versions of ${id}`}>
      <h2>
        Versions of <code>{id}</code>{' '}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </h2>
      {error !== undefined && <p className="error">{error.message}</p>}
      <table className="grid">
        <thead>
          <tr>
            <th>Version</th>
            <th>Based on</th>
            <th>Size</th>
            <th>Content hash</th>
            <th>Tags</th>
            <th>Written by</th>
            <th>At</th>
          </tr>
        </thead>
        <tbody>
          {[...(data?.versions ?? [])].reverse().map((v) => (
            <tr key={v.version} data-version={v.version}>
              <td>v{v.version}</td>
              <td>{v.basedOn === null ? '—' : `v${v.basedOn}`}</td>
              <td>{v.size} B</td>
              <td>
                <code title={v.contentHash}>{v.contentHash.slice(0, 12)}</code>
              </td>
              <td>{v.tags.join(', ')}</td>
              <td>
                <WrittenBy a={v} />
              </td>
              <td>{clock(v.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

/**
 * The shared context's artifacts: their lineage as a graph (`GET /lineage`:
 * versions, the tasks that wrote them, which writer ran upstream of which),
 * the latest versions, and every kept version of the one selected.
 */
export function ArtifactsPage() {
  const [prefix, setPrefix] = useState('')
  const [selected, setSelected] = useState<string>()
  const query = prefix === '' ? '' : `?prefix=${encodeURIComponent(prefix)}`
  const list = useApi<{ artifacts: ArtifactVersion[] }>(`/artifacts${query}`, 10_000)
  const lineage = useApi<Lineage>(`/lineage${query}`, 10_000)
  return (
    <section>
      <h1>Artifacts</h1>
      <div className="filters">
        <label>
          Id starts with <input value={prefix} onChange={(e) => setPrefix(e.target.value)} placeholder="reports/" />
        </label>
      </div>
      {list.error !== undefined && <p className="error">{list.error.message}</p>}
      <h2>Lineage</h2>
      {lineage.error !== undefined && <p className="error">{lineage.error.message}</p>}
      {lineage.data !== undefined && lineage.data.nodes.length > 0 && (
        <>
          <LineageGraph
            lineage={lineage.data}
            selected={selected}
            onArtifact={setSelected}
            onTask={(runId) => navigate(`/runs/${encodeURIComponent(runId)}`)}
          />
          <p className="legend lineage-legend">
            <span>▭ artifact version</span> <span>⚙ task that wrote one (click: its run)</span> <span>— wrote</span>{' '}
            <span>- - revised (next version)</span> <span>··· upstream in its run</span>
            {lineage.data.truncated && <b> · showing the first 100 artifacts: narrow with the filter</b>}
          </p>
        </>
      )}
      {selected !== undefined && <Versions id={selected} onClose={() => setSelected(undefined)} />}
      <h2>Latest versions</h2>
      <table className="grid" data-testid="artifacts">
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
          {(list.data?.artifacts ?? []).map((a) => (
            <tr key={`${a.id}@${a.version}`} data-artifact={a.id}>
              <td>
                <button
                  type="button"
                  className="link"
                  onClick={() => setSelected(a.id)}
                  aria-label={`Versions of ${a.id}`}
                >
                  {a.id}
                </button>
              </td>
              <td>{a.version}</td>
              <td>{a.basedOn === null ? '—' : `v${a.basedOn}`}</td>
              <td>{a.size} B</td>
              <td>{a.tags.join(', ')}</td>
              <td>
                <WrittenBy a={a} />
              </td>
              <td>{clock(a.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data?.artifacts.length === 0 && <p className="hint">No artifacts.</p>}
    </section>
  )
}
