import { useState } from 'react'
import { ApiError, post } from '../api'
import { useAllowed } from '../hooks'
import { navigate } from '../router'
import type { Run } from '../types'
import { isFinal, type RunModel } from './model'

/** Which actions the run's state offers (only those are asked about). */
function offered(run: Run): string[] {
  if (run.state === 'PAUSED') return ['resume', 'cancel', 'replay']
  if (run.state === 'RUNNING' || run.state === 'PENDING') return ['pause', 'cancel']
  return ['replay']
}

/** Pauses, resumes or cancels a run; the run as the API answered, or an error message. */
export async function control(run: Run, action: 'pause' | 'resume' | 'cancel'): Promise<Run> {
  return post<Run>(
    `/runs/${encodeURIComponent(run.id)}/${action}`,
    action === 'cancel' ? { reason: 'cancelled from the dashboard' } : {},
  )
}

const message = (e: unknown): string => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e))

/**
 * The run's buttons, each shown only when the key may take that action on
 * this run: pause, resume, cancel while it runs; replay (as it was) and
 * replay with changes once it finished or while it is paused.
 */
export function Controls({ run, onRun, onReplay }: { run: Run; onRun: (r: Run) => void; onReplay: () => void }) {
  const allowed = useAllowed(`run:${run.id}`, offered(run))
  const [error, setError] = useState<string | null>(null)
  const act = (action: 'pause' | 'resume' | 'cancel'): void => {
    if (action === 'cancel' && !window.confirm(`Cancel run ${run.id}?`)) return
    control(run, action)
      .then((r) => {
        setError(null)
        onRun(r)
      })
      .catch((e: unknown) => setError(message(e)))
  }
  const final = isFinal(run.state)
  return (
    <div className="controls" data-testid="controls">
      {allowed.pause === true && (run.state === 'RUNNING' || run.state === 'PENDING') && (
        <button type="button" onClick={() => act('pause')}>
          Pause
        </button>
      )}
      {allowed.resume === true && run.state === 'PAUSED' && (
        <button type="button" onClick={() => act('resume')}>
          Resume
        </button>
      )}
      {allowed.cancel === true && !final && (
        <button type="button" className="danger" onClick={() => act('cancel')}>
          Cancel
        </button>
      )}
      {allowed.replay === true && final && (
        <button
          type="button"
          onClick={() =>
            post<Run>(`/runs/${encodeURIComponent(run.id)}/replay`, {})
              .then((r) => navigate(`/runs/${encodeURIComponent(r.id)}`))
              .catch((e: unknown) => setError(message(e)))
          }
        >
          Replay
        </button>
      )}
      {allowed.replay === true && (final || run.state === 'PAUSED') && (
        <button type="button" onClick={onReplay}>
          Replay with changes…
        </button>
      )}
      {error !== null && (
        <span role="alert" className="error">
          {error}
        </span>
      )}
    </div>
  )
}

/**
 * Debug mode: a run started with `breakOnError` that is paused at a failing
 * task. Names the task, its attempt and error, and offers to show it, to
 * resume (the task runs again) or to replay from it with changes.
 */
export function BreakBanner({
  model,
  onRun,
  onShow,
  onReplay,
}: {
  model: RunModel
  onRun: (r: Run) => void
  onShow: (taskId: string) => void
  onReplay: (taskId: string) => void
}) {
  const run = model.run
  const at = model.breakAt
  const allowed = useAllowed(`run:${run.id}`, ['resume', 'replay'])
  const [error, setError] = useState<string | null>(null)
  if (at === undefined || run.state !== 'PAUSED') return null
  return (
    <div className="break" role="region" aria-label="Break on error" data-testid="break" data-task={at.taskId}>
      <p>
        <b>Paused at a failing task:</b> <code>{at.taskId}</code>
        {at.attempt !== undefined && <> (attempt {at.attempt})</>}
        {at.error !== undefined && (
          <>
            {' '}
            — <code>{at.error.code}</code> {at.error.message}
          </>
        )}
      </p>
      <p className="hint">
        Nothing failed yet and nothing downstream was cancelled. Resume runs the task again; a replay with changes
        starts a new run from it.
      </p>
      <div className="controls">
        <button type="button" onClick={() => onShow(at.taskId)}>
          Show {at.taskId}
        </button>
        {allowed.resume === true && (
          <button
            type="button"
            onClick={() =>
              control(run, 'resume')
                .then(onRun)
                .catch((e: unknown) => setError(message(e)))
            }
          >
            Resume: retry {at.taskId}
          </button>
        )}
        {allowed.replay === true && (
          <button type="button" onClick={() => onReplay(at.taskId)}>
            Replay from {at.taskId} with changes…
          </button>
        )}
      </div>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  )
}
