import { useEffect, useRef } from 'react'
import { clock, duration, usd } from '../api'
import { useApi } from '../hooks'
import type { Task } from '../types'
import type { TaskView } from './model'

function Json({ value }: { value: unknown }) {
  return <pre className="json">{value === undefined ? '—' : JSON.stringify(value, null, 2)}</pre>
}

/** A number called `confidence` in the output, if the agent reported one. */
function confidenceOf(output: unknown): number | undefined {
  if (output !== null && typeof output === 'object' && 'confidence' in output) {
    const c = (output as { confidence: unknown }).confidence
    if (typeof c === 'number') return c
  }
  return undefined
}

/**
 * One task in a side panel: its state, input (as declared), output,
 * attempts with their errors, logs, the model trace (reasoning, text, tool
 * calls), tokens and cost. Escape closes it.
 */
export function TaskDrawer({ runId, task, onClose }: { runId: string; task: TaskView; onClose: () => void }) {
  const panel = useRef<HTMLElement>(null)
  const fresh = useApi<{ tasks: Task[] }>(`/runs/${encodeURIComponent(runId)}/tasks`)
  const record = fresh.data?.tasks.find((t) => t.taskId === task.id) ?? task.record
  useEffect(() => {
    panel.current?.focus()
    const key = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') onClose()
    }
    window.addEventListener('keydown', key)
    return () => window.removeEventListener('keydown', key)
  }, [task.id, onClose])
  const spend = record?.model
  const confidence = confidenceOf(record?.output)
  return (
    <aside
      className="drawer"
      role="dialog"
      aria-label={`Task ${task.id}`}
      tabIndex={-1}
      ref={panel}
      data-testid="drawer"
    >
      <header>
        <h2>{task.id}</h2>
        <span className={`badge ${task.state}`}>{task.state}</span>
        <button type="button" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </header>
      <dl className="facts">
        <dt>Agent</dt>
        <dd>{task.agent ?? task.graph?.capability ?? '—'}</dd>
        <dt>Depends on</dt>
        <dd>{task.graph?.dependsOn.join(', ') || '—'}</dd>
        <dt>Priority</dt>
        <dd>{task.graph?.priority ?? record?.priority}</dd>
        {task.graph?.when != null && (
          <>
            <dt>When</dt>
            <dd>
              <code>{task.graph.when}</code>
            </dd>
          </>
        )}
        <dt>Tokens</dt>
        <dd>
          {spend
            ? `${spend.inputTokens} in · ${spend.outputTokens} out (${spend.reasoningTokens} reasoning, ${spend.cachedInputTokens} cached) · ${spend.calls} calls`
            : task.eventTokens > 0
              ? String(task.eventTokens)
              : '—'}
        </dd>
        <dt>Cost</dt>
        <dd>{usd(Math.max(spend?.costUsd ?? 0, task.eventCost))}</dd>
        {confidence !== undefined && (
          <>
            <dt>Confidence</dt>
            <dd>{confidence}</dd>
          </>
        )}
      </dl>
      <h3>Input (as declared)</h3>
      <Json value={task.graph?.input ?? undefined} />
      <h3>Output</h3>
      <Json value={record?.output ?? undefined} />
      {record?.error != null && (
        <>
          <h3>Error</h3>
          <p className="error">
            <code>{record.error.code}</code> {record.error.message}
          </p>
        </>
      )}
      <h3>Attempts ({task.attempts.length})</h3>
      <ol className="attempts">
        {task.attempts.map((a) => (
          <li key={`${a.attempt}-${a.start}`} className={a.outcome}>
            #{a.attempt} on {a.agent ?? '?'} at {clock(a.start)} · {duration((a.end ?? Date.now()) - a.start)} ·{' '}
            <b>{a.outcome}</b>
            {a.error !== undefined && <div className="error">{a.error}</div>}
          </li>
        ))}
      </ol>
      <h3>Logs ({task.logs.length})</h3>
      <ul className="logs">
        {task.logs.map((l, i) => (
          <li key={i} className={l.level}>
            <time>{clock(l.at)}</time> <b>{l.level}</b> {l.message}
          </li>
        ))}
      </ul>
      <h3>Model trace ({task.calls.length} calls)</h3>
      <ol className="trace">
        {task.calls.map((c, i) => (
          <li key={i}>
            <div>
              <b>{c.model}</b> · {c.usage?.inputTokens ?? 0} in / {c.usage?.outputTokens ?? 0} out ·{' '}
              {usd(c.costUsd ?? 0)} · {duration(c.durationMs)} · {c.finishReason}
              {c.replayed === true && ' · replayed from the journal'}
            </div>
            {(c.answer ?? []).map((p, j) =>
              p.type === 'tool-call' ? (
                <div key={j} className="part tool">
                  tool <b>{p.tool}</b>({p.input})
                </div>
              ) : (
                <div key={j} className={`part ${p.type}`}>
                  {p.type === 'reasoning' && <b>reasoning: </b>}
                  {p.text}
                </div>
              ),
            )}
          </li>
        ))}
      </ol>
    </aside>
  )
}
