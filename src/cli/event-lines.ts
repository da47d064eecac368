import type { AlertRaisedEvent, AlertResolvedEvent, RunEvent } from '../core/events.js'
import { formatClock, formatDuration, formatPercent } from './format.js'

/**
 * One plain line for an event, for logs and non-terminal output, e.g.
 * `12:00:01 task.succeeded scan-0 (4 ms)`. Returns undefined for events
 * shown only with `verbose` (progress, debug and info logs of handlers).
 *
 * @example
 * ```ts
 * orchestrator.on('*', (e) => { const line = formatEventLine(e, false); if (line) console.log(line) })
 * ```
 */
export function formatEventLine(e: RunEvent, verbose: boolean): string | undefined {
  const at = formatClock(e.at)
  switch (e.type) {
    case 'run.started':
      return `${at} run.started ${e.workflow} (${e.tasks} ${e.tasks === 1 ? 'task' : 'tasks'}) run ${e.runId}`
    case 'run.recovered':
      return `${at} run.recovered ${e.runId} (${e.done}/${e.tasks} ${e.tasks === 1 ? 'task' : 'tasks'} already done)`
    case 'run.waiting':
      return `${at} run.waiting ${e.taskId}: ${e.reason}`
    case 'run.paused':
      return e.reason === 'break on error'
        ? `${at} run.paused: break on error at ${e.taskId ?? '?'}${e.error === undefined ? '' : ` [${e.error.code}] ${e.error.message}`}`
        : `${at} run.paused${e.by !== undefined ? ` by ${e.by}` : ''}`
    case 'run.resumed':
      return `${at} ${e.type}`
    case 'run.succeeded':
      return `${at} run.succeeded (${formatDuration(e.durationMs)})`
    case 'run.failed':
      return `${at} run.failed (${formatDuration(e.durationMs)}) [${e.error.code}] ${e.error.message}`
    case 'run.summarized':
      return `${at} run.summarized by ${e.model} (${e.length} characters, $${e.spend.costUsd.toFixed(4)})`
    case 'run.summary_failed':
      return `${at} run.summary_failed [${e.error.code}] ${e.error.message} (the run's state is unchanged)`
    case 'run.cancelled':
      return `${at} run.cancelled (${formatDuration(e.durationMs)}): ${e.reason}`
    case 'run.progress': {
      if (!verbose) return undefined
      const p = e.progress
      const eta = p.etaMs === undefined ? '' : `, ETA ${formatDuration(p.etaMs)}`
      return `${at} run.progress ${p.percent}% (${p.done}/${p.total} done${eta})`
    }
    case 'task.started':
      return `${at} task.started ${e.taskId} on ${e.agent}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`
    case 'task.progress':
      return verbose
        ? `${at} task.progress ${e.taskId} ${formatPercent(e.fraction)}${e.note ? ` ${e.note}` : ''}`
        : undefined
    case 'task.retrying':
      return `${at} task.retrying ${e.taskId} after attempt ${e.attempt} failed [${e.error.code}] ${e.error.message}; retry in ${formatDuration(e.delayMs)}`
    case 'task.succeeded':
      return `${at} task.succeeded ${e.taskId} (${formatDuration(e.durationMs)})`
    case 'task.failed':
      return `${at} task.failed ${e.taskId} [${e.error.code}] ${e.error.message}${e.tolerated ? ' (tolerated: continueOnFailure)' : ''}`
    case 'task.skipped':
      return `${at} task.skipped ${e.taskId}: ${e.reason}`
    case 'task.cancelled':
      return `${at} task.cancelled ${e.taskId}: ${e.reason}`
    case 'task.log':
      return verbose || e.level === 'warn' || e.level === 'error'
        ? `${at} task.log ${e.taskId} ${e.level}: ${e.message}${logData(e.data)}`
        : undefined
    case 'model.called':
      return verbose
        ? `${at} model.called ${e.taskId} ${e.model} call ${e.call + 1}${e.replayed ? ' replayed' : `: ${e.usage.inputTokens} in / ${e.usage.outputTokens} out tokens, $${e.costUsd.toFixed(4)}`}`
        : undefined
    case 'budget.warning':
      return `${at} budget.warning ${e.taskId} ${e.agent}: ${e.scope} budget of ${e.limit} ${e.measure} is ${formatPercent(e.spent / e.limit)} spent`
  }
}

/**
 * One line for an alert event, e.g. `12:00:01 alert.raised critical errorRate:
 * scan: 60 % of its last 20 attempts failed (threshold 50 %)`.
 */
export function formatAlertLine(e: AlertRaisedEvent | AlertResolvedEvent): string {
  return `${formatClock(e.at)} ${e.type} ${e.alert.severity} ${e.alert.rule}: ${e.alert.message}`
}

/** The data of a log line, as short JSON after the message; empty when there is none. */
function logData(data: unknown): string {
  if (data === undefined) return ''
  let text: string
  try {
    text = JSON.stringify(data) ?? String(data)
  } catch {
    text = String(data)
  }
  const chars = [...text]
  return ` ${chars.length <= 200 ? text : `${chars.slice(0, 199).join('')}…`}`
}
