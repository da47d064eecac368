import { useVirtualizer } from '@tanstack/react-virtual'
import { useMemo, useRef, useState } from 'react'
import { duration, usd } from '../api'
import type { RunModel, TaskView } from './model'

const ROW = 30

function taskDuration(t: TaskView, now: number): number | undefined {
  const first = t.attempts[0]
  if (first === undefined) {
    const r = t.record
    return r?.startedAt != null ? (r.finishedAt ?? now) - r.startedAt : undefined
  }
  return (t.attempts.at(-1)?.end ?? now) - first.start
}

/** Every task of the run in a virtualized list (only the rows on screen exist), filterable, keyboard-navigable. */
export function TaskList({
  model,
  version,
  now,
  critical,
  onSelect,
}: {
  model: RunModel
  version: number
  now: number
  critical: Set<string>
  onSelect: (taskId: string) => void
}) {
  const [filter, setFilter] = useState('')
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase()
    return f === ''
      ? model.order
      : model.order.filter(
          (t) =>
            t.id.toLowerCase().includes(f) || t.state.toLowerCase() === f || (t.agent ?? '').toLowerCase().includes(f),
        )
    // version: the model is mutated in place
  }, [model, version, filter])
  const parent = useRef<HTMLDivElement>(null)
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parent.current,
    estimateSize: () => ROW,
    overscan: 10,
  })
  return (
    <section aria-label="Tasks">
      <div className="filters">
        <input
          placeholder="Filter tasks: id, agent or state"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          aria-label="Filter tasks"
        />
        <span className="hint">{rows.length} tasks</span>
      </div>
      <div className="tasklist-head" aria-hidden>
        <span>Task</span>
        <span>Agent</span>
        <span>State</span>
        <span>Attempts</span>
        <span>Duration</span>
        <span>Cost</span>
      </div>
      <div ref={parent} className="tasklist" data-testid="tasks" role="list">
        <div style={{ height: v.getTotalSize(), position: 'relative' }}>
          {v.getVirtualItems().map((item) => {
            const t = rows[item.index] as TaskView
            return (
              <button
                type="button"
                role="listitem"
                key={t.id}
                data-task={t.id}
                data-state={t.state}
                className={`taskrow${critical.has(t.id) ? ' critical' : ''}${t.id === model.breakAt?.taskId ? ' break' : ''}`}
                style={{ transform: `translateY(${item.start}px)`, height: ROW }}
                onClick={() => onSelect(t.id)}
              >
                <span>{t.id}</span>
                <span>{t.agent ?? '—'}</span>
                <span className={`badge ${t.state}`}>{t.state}</span>
                <span>{Math.max(t.attempts.length, t.record?.attempt ?? 0)}</span>
                <span>{duration(taskDuration(t, now))}</span>
                <span>{usd(Math.max(t.record?.model?.costUsd ?? 0, t.eventCost))}</span>
              </button>
            )
          })}
        </div>
      </div>
    </section>
  )
}
