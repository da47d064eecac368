import { useEffect, useMemo, useRef, useState } from 'react'
import { ApiError, post } from '../api'
import { navigate } from '../router'
import type { Run } from '../types'
import type { RunModel } from './model'

/** The body of `POST /runs/{id}/replay`. */
export interface ReplayBody {
  from?: string[]
  set?: Record<string, { input?: unknown; agent?: string }>
  input?: unknown
  children?: 'keep' | 'rerun'
}

const pretty = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v, null, 2))

/** Parses a JSON field; a message naming the field when it is not JSON. */
function parseJson(text: string, field: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) as unknown }
  } catch (e) {
    return { error: `${field} is not JSON: ${e instanceof Error ? e.message : String(e)}` }
  }
}

/**
 * What a replay with changes asks for: from a chosen task (it and its downstream
 * run again), with its input and agent as edited, the run's input as edited,
 * child runs kept or re-run. Only what differs from the run is sent.
 */
export function replayBody(
  model: RunModel,
  form: { task: string; rerun: boolean; input: string; agent: string; runInput: string; children: 'keep' | 'rerun' },
): ReplayBody | { error: string } {
  const body: ReplayBody = {}
  const t = form.task === '' ? undefined : model.tasks.get(form.task)
  if (t !== undefined) {
    if (form.rerun) body.from = [t.id]
    const change: { input?: unknown; agent?: string } = {}
    if (form.input.trim() !== pretty(t.graph?.input).trim()) {
      const parsed = parseJson(form.input, `The input of ${t.id}`)
      if ('error' in parsed) return parsed
      change.input = parsed.value
    }
    const agent = form.agent.trim()
    if (agent !== '' && agent !== (t.graph?.agent ?? '')) change.agent = agent
    if (Object.keys(change).length > 0) body.set = { [t.id]: change }
  }
  if (form.runInput.trim() !== pretty(model.run.input).trim()) {
    const parsed = parseJson(form.runInput === '' ? 'null' : form.runInput, "The run's input")
    if ('error' in parsed) return parsed
    body.input = parsed.value
  }
  if (form.children === 'rerun') body.children = 'rerun'
  return body
}

/**
 * A dialog that replays the run with changes (`POST /runs/{id}/replay`) and
 * opens the new run. `task` preselects the task to replay from (the one a
 * break on error stopped at). A run paused at a break can be cancelled at the
 * same time, so that only the replay goes on.
 */
export function ReplayDialog({ model, task, onClose }: { model: RunModel; task: string; onClose: () => void }) {
  const run = model.run
  const dialog = useRef<HTMLDialogElement>(null)
  const [picked, setPicked] = useState(task)
  const [rerun, setRerun] = useState(task !== '')
  const view = picked === '' ? undefined : model.tasks.get(picked)
  const [input, setInput] = useState(pretty(view?.graph?.input))
  const [agent, setAgent] = useState(view?.graph?.agent ?? '')
  const [runInput, setRunInput] = useState(pretty(run.input))
  const [children, setChildren] = useState<'keep' | 'rerun'>('keep')
  const [cancelThis, setCancelThis] = useState(run.state === 'PAUSED')
  const [error, setError] = useState<string>()
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    const d = dialog.current
    if (d !== null && !d.open) d.showModal()
  }, [])
  const ids = useMemo(() => model.order.map((t) => t.id), [model])
  const pick = (id: string): void => {
    setPicked(id)
    const v = id === '' ? undefined : model.tasks.get(id)
    setInput(pretty(v?.graph?.input))
    setAgent(v?.graph?.agent ?? '')
    setRerun(id !== '')
  }
  const submit = async (): Promise<void> => {
    const body = replayBody(model, { task: picked, rerun, input, agent, runInput, children })
    if ('error' in body) return setError(body.error)
    setBusy(true)
    try {
      const next = await post<Run>(`/runs/${encodeURIComponent(run.id)}/replay`, body)
      if (cancelThis && run.state === 'PAUSED')
        await post<Run>(`/runs/${encodeURIComponent(run.id)}/cancel`, { reason: `replayed as ${next.id}` })
      onClose()
      navigate(`/runs/${encodeURIComponent(next.id)}`)
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e))
      setBusy(false)
    }
  }
  return (
    <dialog
      ref={dialog}
      className="replay"
      data-testid="replay-dialog"
      aria-labelledby="replay-title"
      onClose={onClose}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault()
          void submit()
        }}
      >
        <h2 id="replay-title">Replay {run.id} with changes</h2>
        <p className="hint">
          A new run of {run.workflow}: the tasks that succeeded keep their results, except the task chosen here (when
          re-run or changed), tasks reading a changed input, and everything downstream of them.
        </p>
        <label>
          From task
          <select value={picked} onChange={(e) => pick(e.target.value)} aria-label="From task">
            <option value="">— none: change only the run&apos;s input —</option>
            {ids.length <= 2000
              ? ids.map((id) => (
                  <option key={id} value={id}>
                    {id}
                  </option>
                ))
              : picked !== '' && <option value={picked}>{picked}</option>}
          </select>
        </label>
        {ids.length > 2000 && (
          <label>
            Task id
            <input value={picked} onChange={(e) => pick(e.target.value)} aria-label="Task id" />
          </label>
        )}
        {view !== undefined && (
          <>
            <label className="check">
              <input type="checkbox" checked={rerun} onChange={(e) => setRerun(e.target.checked)} /> Re-run {view.id}{' '}
              and its downstream even if unchanged
            </label>
            <label>
              Agent of {view.id}
              <input value={agent} onChange={(e) => setAgent(e.target.value)} aria-label="Agent" />
            </label>
            <label>
              Input of {view.id} (JSON, references as declared)
              <textarea rows={6} value={input} onChange={(e) => setInput(e.target.value)} aria-label="Task input" />
            </label>
          </>
        )}
        <label>
          Run input (JSON)
          <textarea rows={4} value={runInput} onChange={(e) => setRunInput(e.target.value)} aria-label="Run input" />
        </label>
        <label>
          Tasks that ran child runs
          <select
            value={children}
            onChange={(e) => setChildren(e.target.value as 'keep' | 'rerun')}
            aria-label="Child runs"
          >
            <option value="keep">keep their results</option>
            <option value="rerun">re-run them (new child runs)</option>
          </select>
        </label>
        {run.state === 'PAUSED' && (
          <label className="check">
            <input type="checkbox" checked={cancelThis} onChange={(e) => setCancelThis(e.target.checked)} /> Cancel this
            paused run
          </label>
        )}
        {error !== undefined && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div className="controls">
          <button type="submit" disabled={busy}>
            Start replay
          </button>
          <button type="button" onClick={() => dialog.current?.close()}>
            Close
          </button>
        </div>
      </form>
    </dialog>
  )
}
