import { startTransition, useCallback, useEffect, useRef, useState } from 'react'
import { ApiError, followEvents, get } from '../api'
import type { GraphTask, Run, RunEvent, Task } from '../types'
import { isFinal, RunModel } from './model'

/** Time given to applying queued events in one animation frame; the rest of the frame is the page's. */
const APPLY_BUDGET_MS = 6
/** Least time between two redraws of the page while events arrive (the model changes at once, the page follows). */
const REDRAW_MS = 200
/** The same while a backlog (a finished run's history) is being applied: fewer, larger steps. */
const BACKLOG_REDRAW_MS = 1000
/** A redraw takes at most 1/REDRAW_SHARE of the main thread: a page that takes 60 ms to redraw does so every 600 ms. */
const REDRAW_SHARE = 10

/** The run page's state: the model, changed by the live events, and a version that bumps when the page must redraw. */
export interface LiveRun {
  model: RunModel | undefined
  version: number
  error: string | undefined
  /** The live stream ended (the run's final event came) and every event it sent is applied. */
  ended: boolean
  setRun: (r: Run) => void
  /** The page calls it once it has drawn a version (after the commit): how long redraws take sets how often they come. */
  drawn: () => void
}

/**
 * Loads a run (record, graph, tasks) and follows its live events. Events are
 * queued as they arrive and applied once per animation frame within a time
 * budget, so a burst (the replay of a 10,000-task run's ~40,000 events) is
 * spread over frames instead of holding the main thread; the page redraws
 * at most every {@link REDRAW_MS}, as a transition (React may pause it for
 * input and frames).
 */
export function useRunModel(runId: string): LiveRun {
  const [ended, setEnded] = useState(false)
  const [model, setModel] = useState<RunModel>()
  const [version, setVersion] = useState(0)
  const [error, setError] = useState<string>()
  const onDrawn = useRef<() => void>(() => undefined)
  useEffect(() => {
    const ctl = new AbortController()
    let m: RunModel | undefined
    const queue: string[] = []
    let head = 0
    let frame = 0
    let fallback: ReturnType<typeof setTimeout> | undefined
    let drawn = 0
    let drawTimer: ReturnType<typeof setTimeout> | undefined
    // How long the last redraw took, from the version set to the page's effect.
    let cost = 0
    let streamEnded = false
    const id = encodeURIComponent(runId)
    const redraw = (): void => {
      drawTimer = undefined
      drawn = performance.now()
      const v = m?.version ?? 0
      startTransition(() => setVersion(v))
    }
    onDrawn.current = () => {
      if (drawn > 0) cost = performance.now() - drawn
    }
    const scheduleRedraw = (): void => {
      if (drawTimer !== undefined) return
      const gap = Math.max(head < queue.length ? BACKLOG_REDRAW_MS : REDRAW_MS, cost * REDRAW_SHARE)
      drawTimer = setTimeout(redraw, Math.max(0, drawn + gap - performance.now()))
    }
    // A hidden tab gets no animation frames: a timer stands in, so the queue never waits for the tab to show.
    const schedule = (): void => {
      frame = requestAnimationFrame(drain)
      fallback = setTimeout(drain, 250)
    }
    const drain = (): void => {
      if (frame !== 0) cancelAnimationFrame(frame)
      if (fallback !== undefined) clearTimeout(fallback)
      frame = 0
      fallback = undefined
      if (m === undefined) return
      const start = performance.now()
      const wasFinal = isFinal(m.run.state)
      while (head < queue.length) {
        m.apply(JSON.parse(queue[head++] as string) as RunEvent)
        if ((head & 31) === 0 && performance.now() - start > APPLY_BUDGET_MS) break
      }
      if (head === queue.length) {
        queue.length = 0
        head = 0
      } else schedule()
      if (!wasFinal && isFinal(m.run.state)) {
        // The records say what the events do not (outputs, spend): read once when the run ends.
        const model = m
        void get<{ tasks: Task[] }>(`/runs/${id}/tasks`, ctl.signal)
          .then((t) => {
            model.setRecords(t.tasks)
            scheduleRedraw()
          })
          .catch(() => undefined)
      }
      scheduleRedraw()
      if (streamEnded && frame === 0) setEnded(true)
    }
    void (async () => {
      try {
        const [run, graph, tasks] = await Promise.all([
          get<Run>(`/runs/${id}`, ctl.signal),
          get<{ tasks: GraphTask[] }>(`/runs/${id}/graph`, ctl.signal),
          get<{ tasks: Task[] }>(`/runs/${id}/tasks`, ctl.signal),
        ])
        // Built in slices, each its own task: a 10,000-task run's first drawing is not one long task.
        const built = await RunModel.build(run, graph.tasks, tasks.tasks, () => new Promise((r) => setTimeout(r, 0)))
        if (ctl.signal.aborted) return
        m = built
        setModel(m)
        setVersion(m.version)
        drawn = performance.now()
        // Let the page draw the run first; the replay of its events follows.
        await new Promise((r) => setTimeout(r, 50))
        if (ctl.signal.aborted) return
        followEvents(
          `/runs/${id}/live`,
          (msg) => {
            queue.push(msg.data)
            if (frame === 0) schedule()
          },
          {
            signal: ctl.signal,
            onEnd: () => {
              streamEnded = true
              if (frame === 0) setEnded(true)
            },
            onError: (e) => setError(e instanceof Error ? e.message : String(e)),
          },
        )
      } catch (e) {
        if (!ctl.signal.aborted) setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e))
      }
    })()
    return () => {
      ctl.abort()
      if (frame !== 0) cancelAnimationFrame(frame)
      if (fallback !== undefined) clearTimeout(fallback)
      if (drawTimer !== undefined) clearTimeout(drawTimer)
    }
  }, [runId])
  const setRun = useCallback(
    (r: Run) => {
      if (model === undefined) return
      model.run = r
      if (r.state !== 'PAUSED') model.breakAt = undefined
      model.version++
      setVersion(model.version)
    },
    [model],
  )
  const drawnCb = useCallback(() => onDrawn.current(), [])
  return { model, version, error, ended, setRun, drawn: drawnCb }
}
