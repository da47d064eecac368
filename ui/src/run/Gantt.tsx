import { useEffect, useRef } from 'react'
import { duration } from '../api'
import type { Attempt, RunModel } from './model'

const COLORS: Record<Attempt['outcome'], string> = {
  running: '#3b82f6',
  succeeded: '#16a34a',
  failed: '#dc2626',
  retrying: '#f59e0b',
  cancelled: '#6b7280',
}

/** Least time between two drawings of a timeline of more than 2,000 attempts (or ten times what one takes). */
const DRAW_MS = 1000

interface Bar {
  task: string
  a: Attempt
  lane: number
}

/** Packs attempts into lanes: an attempt takes the first lane free at its start, so the lanes in use show the parallelism. */
function pack(model: RunModel, now: number): { bars: Bar[]; lanes: number } {
  const all: { task: string; a: Attempt }[] = []
  for (const t of model.order) for (const a of t.attempts) all.push({ task: t.id, a })
  all.sort((x, y) => x.a.start - y.a.start)
  const laneEnd: number[] = []
  const bars: Bar[] = []
  for (const { task, a } of all) {
    const end = a.end ?? now
    let lane = laneEnd.findIndex((e) => e <= a.start)
    if (lane < 0) lane = laneEnd.push(end) - 1
    else laneEnd[lane] = end
    bars.push({ task, a, lane })
  }
  return { bars, lanes: laneEnd.length }
}

/**
 * The rectangles to fill, by outcome (one colour set per outcome), as
 * (x0, x1, lane) triples: in a lane, bars of the same outcome that touch on
 * screen are one rectangle (10,000 attempts on a 1,000-pixel canvas are a
 * few hundred rectangles).
 */
function merge(bars: Bar[], t0: number, scale: number, at: number): Map<Attempt['outcome'], number[]> {
  const out = new Map<Attempt['outcome'], number[]>()
  // The rectangle being grown in each lane: its outcome and where it starts and ends.
  const open: ({ outcome: Attempt['outcome']; x0: number; x1: number } | undefined)[] = []
  const flush = (lane: number): void => {
    const r = open[lane]
    if (r === undefined) return
    let list = out.get(r.outcome)
    if (list === undefined) out.set(r.outcome, (list = []))
    list.push(r.x0, r.x1, lane)
  }
  // Bars come in start order, so a lane's bars come left to right.
  for (const b of bars) {
    const x0 = 4 + (b.a.start - t0) * scale
    const x1 = x0 + Math.max(1.5, ((b.a.end ?? at) - b.a.start) * scale)
    const r = open[b.lane]
    if (r !== undefined && r.outcome === b.a.outcome && x0 <= r.x1 + 0.5) r.x1 = Math.max(r.x1, x1)
    else {
      flush(b.lane)
      open[b.lane] = { outcome: b.a.outcome, x0, x1 }
    }
  }
  for (let lane = 0; lane < open.length; lane++) flush(lane)
  return out
}

/**
 * The timeline of the run's attempts on a canvas (thousands of bars stay
 * cheap): one row per concurrent slot, a bar per attempt coloured by its
 * outcome — a retried attempt amber, then its retry after it.
 */
export function Gantt({
  model,
  version,
  now,
  onSelect,
}: {
  model: RunModel
  version: number
  now: number
  onSelect: (taskId: string) => void
}) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const hit = useRef<{ bars: Bar[]; x0: number; scale: number; laneH: number }>({ bars: [], x0: 0, scale: 1, laneH: 1 })

  const drawn = useRef(0)
  const cost = useRef(0)
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  useEffect(() => {
    const c = canvas.current
    if (c === null) return
    // Thousands of bars: drawn at most every DRAW_MS (or 10 × a drawing's time), in a timer of its own rather than in React's commit.
    const gap = drawn.current + (model.attempts > 2000 ? Math.max(DRAW_MS, 10 * cost.current) : 0) - performance.now()
    clearTimeout(pending.current)
    pending.current = setTimeout(
      () => {
        drawn.current = performance.now()
        draw(c)
        cost.current = performance.now() - drawn.current
      },
      Math.max(0, gap),
    )
    return () => clearTimeout(pending.current)
  }, [model, version, now])

  const draw = (c: HTMLCanvasElement): void => {
    const at = Date.now()
    const { bars, lanes } = pack(model, at)
    const width = c.parentElement?.clientWidth ?? 800
    const laneH = Math.max(2, Math.min(18, Math.floor(320 / Math.max(1, lanes))))
    const height = Math.max(40, lanes * laneH + 24)
    const ratio = window.devicePixelRatio || 1
    c.width = width * ratio
    c.height = height * ratio
    c.style.width = `${width}px`
    c.style.height = `${height}px`
    const g = c.getContext('2d')
    if (g === null) return
    g.setTransform(ratio, 0, 0, ratio, 0, 0)
    g.clearRect(0, 0, width, height)
    const t0 = model.run.startedAt ?? bars[0]?.a.start ?? at
    const t1 = Math.max(t0 + 1, model.run.finishedAt ?? at)
    const scale = (width - 8) / (t1 - t0)
    const dark = window.matchMedia('(prefers-color-scheme: dark)').matches
    g.fillStyle = dark ? '#9ca3af' : '#4b5563'
    g.font = '11px system-ui, sans-serif'
    for (let i = 0; i <= 4; i++) {
      const x = 4 + ((width - 8) * i) / 4
      g.fillRect(x, height - 22, 1, 4)
      const label = duration(((t1 - t0) * i) / 4)
      g.fillText(label, Math.min(x, width - g.measureText(label).width - 2), height - 6)
    }
    for (const [outcome, rects] of merge(bars, t0, scale, at)) {
      g.fillStyle = COLORS[outcome]
      for (let i = 0; i < rects.length; i += 3) {
        const x = rects[i] as number
        g.fillRect(x, (rects[i + 2] as number) * laneH + 1, (rects[i + 1] as number) - x, Math.max(1, laneH - 2))
      }
    }
    hit.current = { bars, x0: t0, scale, laneH }
  }

  return (
    <figure className="gantt">
      <canvas
        ref={canvas}
        data-testid="gantt"
        role="img"
        aria-label="Timeline of task attempts: one row per concurrent slot"
        onClick={(e) => {
          const r = e.currentTarget.getBoundingClientRect()
          const { bars, x0, scale, laneH } = hit.current
          const lane = Math.floor((e.clientY - r.top) / laneH)
          const at = x0 + (e.clientX - r.left - 4) / scale
          const b = bars.find((b) => b.lane === lane && b.a.start <= at && (b.a.end ?? Infinity) >= at)
          if (b !== undefined) onSelect(b.task)
        }}
      />
      <figcaption className="legend">
        {Object.entries(COLORS).map(([k, v]) => (
          <span key={k}>
            <i style={{ background: v }} /> {k}
          </span>
        ))}
      </figcaption>
    </figure>
  )
}
