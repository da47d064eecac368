import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { ApiError, duration, followEvents, get, post, usd } from '../api'
import { useAllowed } from '../hooks'
import { linkProps, navigate } from '../router'
import type { GraphTask, Run, RunEvent, Task } from '../types'
import { Gantt } from './Gantt'
import { RunGraph } from './Graph'
import { isFinal, RunModel } from './model'
import { TaskDrawer } from './TaskDrawer'
import { TaskList } from './TaskList'

/** How often the page redraws while events arrive (they are applied at once, drawn together). */
const FRAME_MS = 250

function useRunModel(runId: string): {
  model: RunModel | undefined
  version: number
  error: string | undefined
  ended: boolean
  setRun: (r: Run) => void
} {
  const [ended, setEnded] = useState(false)
  const [model, setModel] = useState<RunModel>()
  const [version, setVersion] = useState(0)
  const [error, setError] = useState<string>()
  useEffect(() => {
    const ctl = new AbortController()
    let dirty = false
    let m: RunModel | undefined
    const timer = setInterval(() => {
      if (dirty && m !== undefined) {
        dirty = false
        setVersion(m.version)
      }
    }, FRAME_MS)
    const id = encodeURIComponent(runId)
    void (async () => {
      try {
        const [run, graph, tasks] = await Promise.all([
          get<Run>(`/runs/${id}`, ctl.signal),
          get<{ tasks: GraphTask[] }>(`/runs/${id}/graph`, ctl.signal),
          get<{ tasks: Task[] }>(`/runs/${id}/tasks`, ctl.signal),
        ])
        m = new RunModel(run, graph.tasks, tasks.tasks)
        setModel(m)
        setVersion(m.version)
        // Let the page draw the run first; the replay of its events follows.
        await new Promise((r) => setTimeout(r, 50))
        if (ctl.signal.aborted) return
        followEvents(
          `/runs/${id}/live`,
          (msg) => {
            const e = JSON.parse(msg.data) as RunEvent
            m?.apply(e)
            dirty = true
            if (isFinal(m?.run.state ?? 'RUNNING'))
              void get<{ tasks: Task[] }>(`/runs/${id}/tasks`, ctl.signal)
                .then((t) => {
                  m?.setRecords(t.tasks)
                  dirty = true
                })
                .catch(() => undefined)
          },
          {
            signal: ctl.signal,
            onEnd: () => setEnded(true),
            onError: (e) => setError(e instanceof Error ? e.message : String(e)),
          },
        )
      } catch (e) {
        if (!ctl.signal.aborted) setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e))
      }
    })()
    return () => {
      ctl.abort()
      clearInterval(timer)
    }
  }, [runId])
  const setRun = useCallback(
    (r: Run) => {
      if (model === undefined) return
      model.run = r
      model.version++
      setVersion(model.version)
    },
    [model],
  )
  return { model, version, error, ended, setRun }
}

function useNow(live: boolean): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    if (!live) return
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(t)
  }, [live])
  return now
}

function Controls({ run, onRun }: { run: Run; onRun: (r: Run) => void }) {
  // Only the actions the run's state offers are asked about.
  const offered =
    run.state === 'PAUSED'
      ? ['resume', 'cancel']
      : run.state === 'RUNNING' || run.state === 'PENDING'
        ? ['pause', 'cancel']
        : ['replay']
  const allowed = useAllowed(`run:${run.id}`, offered)
  const [error, setError] = useState<string | null>(null)
  const act = (action: 'pause' | 'resume' | 'cancel'): void => {
    if (action === 'cancel' && !window.confirm(`Cancel run ${run.id}?`)) return
    post<Run>(
      `/runs/${encodeURIComponent(run.id)}/${action}`,
      action === 'cancel' ? { reason: 'cancelled from the dashboard' } : {},
    )
      .then((r) => {
        setError(null)
        onRun(r)
      })
      .catch((e: unknown) => setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)))
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
              .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)))
          }
        >
          Replay
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

function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <span>{label}</span>
      <b>{value}</b>
    </div>
  )
}

/** One run: controls, figures, the DAG, the timeline, every task, and a drawer for the selected one. */
export function RunPage({ runId }: { runId: string }) {
  const { model, version, error, ended, setRun } = useRunModel(runId)
  const [selected, setSelected] = useState<string | null>(null)
  const live = model !== undefined && !isFinal(model.run.state)
  const now = useNow(live)
  const stats = useMemo(() => model?.stats(now), [model, version, now])
  const critical = useMemo(() => model?.criticalPath(now) ?? new Set<string>(), [model, version, now])
  const close = useCallback(() => setSelected(null), [])
  const drawerTask = selected === null ? undefined : model?.tasks.get(selected)
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => heading.current?.focus(), [runId])
  if (model === undefined || stats === undefined)
    return error !== undefined ? (
      <p role="alert" className="error">
        {error}
      </p>
    ) : (
      <p className="hint">Loading run {runId}…</p>
    )
  const run = model.run
  return (
    <section className="run" data-testid="run" data-state={run.state} data-stream={ended ? 'ended' : 'live'}>
      <nav className="crumbs">
        <a {...linkProps('/')}>Runs</a> / {run.id}
      </nav>
      <h1 tabIndex={-1} ref={heading}>
        {run.workflow}{' '}
        <span className={`badge ${run.state}`} data-testid="run-state">
          {run.state}
        </span>
      </h1>
      {run.parentRunId !== null && (
        <p className="hint">
          Replays <a {...linkProps(`/runs/${encodeURIComponent(run.parentRunId)}`)}>{run.parentRunId}</a>
        </p>
      )}
      <Controls run={run} onRun={setRun} />
      {run.error !== null && run.state === 'FAILED' && (
        <p className="error">
          <code>{run.error.code}</code> {run.error.message}
        </p>
      )}
      <div className="progress-row">
        <progress max={100} value={stats.percent} aria-label="Progress" />
        <span data-testid="progress">
          {stats.done}/{stats.total} ({stats.percent.toFixed(0)} %)
        </span>
      </div>
      <div className="stats">
        <Stat label="ETA" value={isFinal(run.state) ? 'done' : duration(stats.etaMs)} />
        <Stat label="Elapsed" value={duration(stats.wallMs)} />
        <Stat
          label="Success rate"
          value={stats.successRate === undefined ? '—' : `${(stats.successRate * 100).toFixed(0)} %`}
        />
        <Stat label="Attempts / retries" value={`${stats.attempts} / ${stats.retries}`} />
        <Stat label="Peak parallelism" value={String(stats.peak)} />
        <Stat
          label="Parallel efficiency"
          value={stats.efficiency === undefined ? '—' : `${(stats.efficiency * 100).toFixed(0)} %`}
        />
        <Stat label="Tokens" value={stats.tokens.toLocaleString()} />
        <Stat label="Cost" value={usd(stats.costUsd)} testId="cost" />
      </div>
      {error !== undefined && <p className="error">Live events: {error}</p>}
      <h2>Graph</h2>
      <p className="hint">Critical path (the longest chain by duration) outlined.</p>
      <RunGraph model={model} version={version} critical={critical} onSelect={setSelected} />
      <h2>Timeline</h2>
      <Gantt model={model} version={version} now={now} onSelect={setSelected} />
      <h2>Tasks</h2>
      <TaskList model={model} version={version} now={now} critical={critical} onSelect={setSelected} />
      {drawerTask !== undefined && <TaskDrawer runId={run.id} task={drawerTask} onClose={close} />}
    </section>
  )
}
