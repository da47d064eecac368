import { useEffect, useMemo, useRef, useState } from 'react'
import { ApiError, clock, duration, get, post, usd } from '../api'
import { useAllowed, useApi } from '../hooks'
import { linkProps, navigate } from '../router'
import type { Run, RunState, Task } from '../types'

const STATES: RunState[] = ['PENDING', 'RUNNING', 'PAUSED', 'SUCCEEDED', 'FAILED', 'CANCELLED']
const FINAL = new Set<RunState>(['SUCCEEDED', 'FAILED', 'CANCELLED'])

interface Summary {
  total: number
  done: number
  costUsd: number
}

function summarize(tasks: Task[]): Summary {
  let done = 0
  let costUsd = 0
  for (const t of tasks) {
    if (t.state === 'SUCCEEDED' || t.state === 'FAILED' || t.state === 'SKIPPED' || t.state === 'CANCELLED') done++
    costUsd += t.model?.costUsd ?? 0
  }
  return { total: tasks.length, done, costUsd }
}

/** How often an unfinished run's tasks are read again for its progress and cost. */
const SUMMARY_MS = 8000
/** Most task lists read per refresh (the API allows 100 requests a minute per key and per address). */
const SUMMARIES_PER_REFRESH = 6

/** Progress of each listed run, from its tasks: unfinished runs every {@link SUMMARY_MS}, finished ones once. */
function useSummaries(runs: Run[] | undefined): Map<string, Summary> {
  const [map, setMap] = useState(new Map<string, Summary>())
  const known = useRef(new Map<string, { state: RunState; at: number; summary: Summary }>())
  useEffect(() => {
    if (runs === undefined) return
    let live = true
    const now = Date.now()
    const todo = runs
      .filter((r) => {
        const k = known.current.get(r.id)
        return k === undefined || k.state !== r.state || (!FINAL.has(r.state) && now - k.at >= SUMMARY_MS)
      })
      .slice(0, SUMMARIES_PER_REFRESH)
    if (todo.length === 0) return
    void (async () => {
      await Promise.all(
        todo.map(async (r) => {
          try {
            const { tasks } = await get<{ tasks: Task[] }>(`/runs/${encodeURIComponent(r.id)}/tasks`)
            known.current.set(r.id, { state: r.state, at: Date.now(), summary: summarize(tasks) })
          } catch {
            // shown without progress
          }
        }),
      )
      if (live) setMap(new Map([...known.current].map(([id, v]) => [id, v.summary])))
    })()
    return () => {
      live = false
    }
  }, [runs])
  return map
}

function StartForm({ onStarted }: { onStarted: (run: Run) => void }) {
  const [open, setOpen] = useState(false)
  return (
    <details className="panel" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Start a workflow</summary>
      {open && <StartFields onStarted={onStarted} />}
    </details>
  )
}

/** The form, read from the API only once opened. */
function StartFields({ onStarted }: { onStarted: (run: Run) => void }) {
  const { data } = useApi<{ workflows: { name: string; tasks: number; description: string | null }[] }>('/workflows')
  const [name, setName] = useState('')
  const [input, setInput] = useState('{}')
  const [error, setError] = useState<string | null>(null)
  const chosen = name !== '' ? name : (data?.workflows[0]?.name ?? '')
  const detail = useApi<{ spec: { inputs?: unknown } }>(
    chosen === '' ? null : `/workflows/${encodeURIComponent(chosen)}`,
  )
  const allowed = useAllowed(`workflow:${chosen}`, ['start'])
  if (data === undefined) return <p className="hint">Loading the workflows…</p>
  if (data.workflows.length === 0) return <p className="hint">This server offers no workflows (--workflows DIR).</p>
  return (
    <form
      className="start"
      onSubmit={(e) => {
        e.preventDefault()
        let parsed: unknown
        try {
          parsed = JSON.parse(input === '' ? '{}' : input)
        } catch {
          setError('The input is not JSON.')
          return
        }
        post<Run>(`/workflows/${encodeURIComponent(chosen)}/runs`, { input: parsed })
          .then((run) => {
            setError(null)
            onStarted(run)
          })
          .catch((err: unknown) => setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)))
      }}
    >
      <label>
        Workflow{' '}
        <select value={chosen} onChange={(e) => setName(e.target.value)}>
          {data.workflows.map((w) => (
            <option key={w.name} value={w.name}>
              {w.name} ({w.tasks} tasks)
            </option>
          ))}
        </select>
      </label>
      <label>
        Input (JSON)
        <textarea rows={4} value={input} onChange={(e) => setInput(e.target.value)} spellCheck={false} />
      </label>
      {detail.data?.spec.inputs !== undefined && (
        <pre className="hint">inputs: {JSON.stringify(detail.data.spec.inputs, null, 2)}</pre>
      )}
      <button type="submit" disabled={allowed.start !== true}>
        Start
      </button>
      {allowed.start === false && <span className="hint"> this key may not start {chosen}</span>}
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  )
}

/** Runs, newest first, refreshed every 4 s: state, progress, ETA and cost; filters by state and workflow. */
export function RunsPage() {
  const [state, setState] = useState('')
  const [workflow, setWorkflow] = useState('')
  const query = new URLSearchParams({ limit: '50', ...(state ? { state } : {}), ...(workflow ? { workflow } : {}) })
  const { data, error } = useApi<{ runs: Run[] }>(`/runs?${query}`, 4000)
  const summaries = useSummaries(data?.runs)
  const now = Date.now()
  const rows = useMemo(() => data?.runs ?? [], [data])
  return (
    <section>
      <h1>Runs</h1>
      <StartForm onStarted={(r) => navigate(`/runs/${encodeURIComponent(r.id)}`)} />
      <div className="filters" role="search">
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState(e.target.value)} aria-label="Filter by state">
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Workflow{' '}
          <input
            value={workflow}
            onChange={(e) => setWorkflow(e.target.value)}
            placeholder="name"
            aria-label="Filter by workflow"
          />
        </label>
      </div>
      {error !== undefined && (
        <p role="alert" className="error">
          {error.message}
        </p>
      )}
      <table className="grid" data-testid="runs">
        <thead>
          <tr>
            <th>Run</th>
            <th>Workflow</th>
            <th>State</th>
            <th>Progress</th>
            <th>ETA</th>
            <th>Cost</th>
            <th>Started</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const s = summaries.get(r.id)
            const elapsed = r.startedAt === null ? undefined : (r.finishedAt ?? now) - r.startedAt
            const eta =
              s === undefined || FINAL.has(r.state) || s.done === 0 || elapsed === undefined
                ? undefined
                : (elapsed * (s.total - s.done)) / s.done
            const pct = s === undefined || s.total === 0 ? 0 : (100 * s.done) / s.total
            return (
              <tr key={r.id} data-run={r.id} data-state={r.state}>
                <td>
                  <a {...linkProps(`/runs/${encodeURIComponent(r.id)}`)}>{r.id}</a>
                </td>
                <td>{r.workflow}</td>
                <td>
                  <span className={`badge ${r.state}`}>{r.state}</span>
                </td>
                <td>
                  <progress max={100} value={pct} aria-label={`${pct.toFixed(0)} %`} />{' '}
                  {s === undefined ? '' : `${s.done}/${s.total}`}
                </td>
                <td>{FINAL.has(r.state) ? '—' : duration(eta)}</td>
                <td>{s === undefined ? '—' : usd(s.costUsd)}</td>
                <td>{clock(r.startedAt ?? r.createdAt)}</td>
                <td>{duration(elapsed)}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {data !== undefined && rows.length === 0 && <p className="hint">No runs yet.</p>}
    </section>
  )
}
