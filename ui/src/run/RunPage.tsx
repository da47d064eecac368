import { startTransition, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { duration, usd } from '../api'
import { linkProps } from '../router'
import { BreakBanner, Controls } from './Controls'
import { Gantt } from './Gantt'
import { RunGraph } from './Graph'
import { useRunModel } from './live'
import { isFinal } from './model'
import { ReplayDialog } from './ReplayDialog'
import { TaskDrawer } from './TaskDrawer'
import { TaskList } from './TaskList'

function useNow(live: boolean): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    if (!live) return
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(t)
  }, [live])
  return now
}

/**
 * How much of a run's page is mounted: 0 the figures and the task list, 1
 * the graph as well, 2 the timeline too. Each step waits for a frame (or
 * 100 ms in a tab that gets none), so the first drawing of a big run is three
 * shorter tasks instead of one long one.
 */
function useStages(ready: boolean): number {
  const [stage, setStage] = useState(0)
  useEffect(() => {
    if (!ready || stage >= 2) return
    let done = false
    const next = (): void => {
      if (done) return
      done = true
      startTransition(() => setStage((s) => s + 1))
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const frame = requestAnimationFrame(() => (timer = setTimeout(next, 0)))
    const fallback = setTimeout(next, 100)
    return () => {
      done = true
      cancelAnimationFrame(frame)
      clearTimeout(timer)
      clearTimeout(fallback)
    }
  }, [ready, stage])
  return stage
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
  const { model, version, error, ended, setRun, drawn } = useRunModel(runId)
  const [selected, setSelected] = useState<string | null>(null)
  // The replay dialog, open with the task it starts from ('' for none).
  const [replayFrom, setReplayFrom] = useState<string | null>(null)
  const live = model !== undefined && !isFinal(model.run.state)
  const now = useNow(live)
  const stats = useMemo(() => model?.stats(now), [model, version, now])
  const critical = useMemo(() => model?.criticalPath(now) ?? new Set<string>(), [model, version, now])
  const close = useCallback(() => setSelected(null), [])
  const drawerTask = selected === null ? undefined : model?.tasks.get(selected)
  const heading = useRef<HTMLHeadingElement>(null)
  const stage = useStages(model !== undefined)
  useEffect(drawn, [version, drawn])
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
        {model.debug.debug && <span className="badge debug">debug</span>}
        {model.debug.breakOnError && <span className="badge debug">break on error</span>}
      </h1>
      {run.parentRunId !== null && (
        <p className="hint">
          Replays <a {...linkProps(`/runs/${encodeURIComponent(run.parentRunId)}`)}>{run.parentRunId}</a>
        </p>
      )}
      <Controls run={run} onRun={setRun} onReplay={() => setReplayFrom(model.breakAt?.taskId ?? selected ?? '')} />
      <BreakBanner model={model} onRun={setRun} onShow={setSelected} onReplay={setReplayFrom} />
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
      {stage >= 1 ? (
        <RunGraph model={model} version={version} critical={critical} onSelect={setSelected} />
      ) : (
        <div className="graph" aria-label="Task graph" />
      )}
      <h2>Timeline</h2>
      {stage >= 2 ? (
        <Gantt model={model} version={version} now={now} onSelect={setSelected} />
      ) : (
        <figure className="gantt" />
      )}
      <h2>Tasks</h2>
      <TaskList model={model} version={version} now={now} critical={critical} onSelect={setSelected} />
      {drawerTask !== undefined && <TaskDrawer runId={run.id} task={drawerTask} onClose={close} />}
      {replayFrom !== null && <ReplayDialog model={model} task={replayFrom} onClose={() => setReplayFrom(null)} />}
    </section>
  )
}
