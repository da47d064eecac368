import type { ModelSpend } from '../core/model-spend.js'
import type { RunResult, RunSummary } from '../workflows/results.js'
import { formatDuration, formatPercent, middleCell, type Paint } from './format.js'
import { formatOutputs } from './outputs.js'
import { storeArg } from './runs-shared.js'

/** Most failed tasks listed one by one in a summary. */
const MAX_FAILED_LISTED = 20

/** Options of {@link formatSummary}. */
export interface SummaryOptions {
  /** Width of the lines of outputs. @default 160 */
  width?: number | undefined
  /** The command that prints every output in full. @default "--json" */
  hint?: string | undefined
  /** Show the final outputs. @default true */
  outputs?: boolean | undefined
}

/**
 * A readable summary of a finished run: state, duration, counts and success
 * rate (over which tasks), critical path, how many tasks ran at once, each
 * agent's contribution, the failed tasks with their error code and message,
 * and the run's final outputs (those of the tasks nothing depends on), cut
 * short with a hint to `--json`.
 *
 * @example
 * ```ts
 * process.stdout.write(formatSummary(await handle.result, paint(false)))
 * ```
 */
export function formatSummary(result: RunResult, p: Paint, options: SummaryOptions = {}): string {
  const s = result.summary
  const state = result.ok ? p.green(result.state) : p.red(result.state)
  const lines: string[] = [
    '',
    `${p.bold(`Run ${result.runId}`)} of workflow "${result.workflow}": ${state} in ${formatDuration(s.durationMs)}`,
    `  tasks          ${formatCounts(s)} · ${formatRate(s)}`,
    `  critical path  ${s.criticalPath.tasks.join(' → ') || '(none)'} (${formatDuration(s.criticalPath.durationMs)})`,
    `  parallelism    ${formatParallelism(s)}`,
  ]
  const agents = Object.entries(s.perAgent).sort((a, b) => b[1].busyMs - a[1].busyMs)
  if (agents.length > 0) {
    lines.push('  agents')
    for (const [name, a] of agents) {
      const failed = a.failed > 0 ? p.red(`${a.failed} failed`) : '0 failed'
      lines.push(
        `    ${middleCell(name, 22)} ${String(a.tasks).padStart(4)} ${a.tasks === 1 ? 'task ' : 'tasks'}  ${String(a.succeeded).padStart(4)} ok  ${failed}  busy ${formatDuration(a.busyMs)} (${formatPercent(a.share)})`,
      )
      if (a.model !== undefined) lines.push(`    ${' '.repeat(22)} ${p.dim(formatSpend(a.model))}`)
    }
  }
  if (s.model !== undefined) lines.push(`  models         ${formatSpend(s.model)}`)
  const failed = Object.values(result.tasks).filter((t) => t.state === 'FAILED')
  if (failed.length > 0) {
    lines.push(p.red('  failed tasks'))
    for (const t of failed.slice(0, MAX_FAILED_LISTED)) {
      const tries = t.attempts === 1 ? '1 attempt' : `${t.attempts} attempts`
      lines.push(
        `    ${p.red('✗')} ${t.id} (${t.agent ?? 'no agent'}, ${tries}) [${t.error?.code ?? 'UNKNOWN'}] ${t.error?.message ?? 'no error recorded'}`,
      )
    }
    if (failed.length > MAX_FAILED_LISTED) lines.push(`    … and ${failed.length - MAX_FAILED_LISTED} more`)
  }
  if (!result.ok && result.error !== undefined)
    lines.push(`  ${p.red('run error')}      [${result.error.code}] ${result.error.message}`)
  const outputs =
    options.outputs === false
      ? ''
      : formatOutputs(Object.entries(result.finalOutputs), p, { width: options.width, hint: options.hint })
  return `${lines.join('\n')}\n${outputs}`
}

/** `3 calls · 1,200 in / 80 out tokens · $0.0012` (and the replayed calls, when some were). */
export function formatSpend(m: ModelSpend): string {
  const n = (x: number): string => x.toLocaleString('en-US')
  const replayed = m.replayed > 0 ? ` (+${m.replayed} replayed from the journal)` : ''
  const reasoning = m.reasoningTokens > 0 ? ` (${n(m.reasoningTokens)} reasoning)` : ''
  return `${m.calls} model ${m.calls === 1 ? 'call' : 'calls'}${replayed} · ${n(m.inputTokens)} in / ${n(m.outputTokens)} out tokens${reasoning} · $${m.costUsd.toFixed(4)}`
}

function formatCounts(s: RunSummary): string {
  const c = s.counts
  const parts = [`${c.succeeded} succeeded`, `${c.failed} failed`, `${c.skipped} skipped`, `${c.cancelled} cancelled`]
  if (s.unfinished > 0) parts.push(`${s.unfinished} unfinished`)
  return parts.join(', ')
}

/** The success rate, saying which tasks it is over. */
export function formatRate(s: RunSummary): string {
  if (s.rateOver === 0) return 'success rate n/a (no task was to run)'
  const c = s.counts
  const tasks = s.rateOver === 1 ? 'task' : 'tasks'
  if (s.unfinished > 0)
    return `success rate ${formatPercent(s.successRate)} of ${s.rateOver} ${tasks} (the ${s.unfinished} unfinished count as not succeeded)`
  return `success rate ${formatPercent(s.successRate)} of ${s.rateOver} finished ${tasks}${c.skipped > 0 ? ' (skipped ones aside)' : ''}`
}

/**
 * How many tasks ran at once, worded so that a chain (one task at a time by
 * design) does not read as slowness.
 */
export function formatParallelism(s: RunSummary): string {
  if (s.peakConcurrency <= 1) return s.peakConcurrency === 0 ? 'no task ran' : 'one task at a time'
  return `up to ${s.peakConcurrency} tasks at once, ${s.speedup.toFixed(1)} on average`
}

/** The JSON printed by `--json`: the run result with the output of every succeeded task. */
export function resultJson(result: RunResult): Record<string, unknown> {
  return { ...result.toJSON(), outputs: result.outputs }
}

/**
 * The lines after a run's summary that say where it is stored and how to
 * manage it; empty for a memory store (nothing outlives the process).
 *
 * @example
 * ```ts
 * io.out.write(formatStoredNote(result, { label: '.flotilla/flotilla.db', durable: true }))
 * ```
 */
export function formatStoredNote(
  result: Pick<RunResult, 'runId' | 'ok'>,
  store: { label: string; durable: boolean; flag?: string | undefined },
  p: Paint,
): string {
  if (!store.durable) return ''
  const opt = storeArg(store.flag)
  const lines = [`  stored in      ${store.label} · ${p.dim(`flotilla runs show ${result.runId}${opt}`)}`]
  if (!result.ok)
    lines.push(
      `  to re-run      what did not succeed, keeping the stored results: ${p.dim(`flotilla runs replay ${result.runId}${opt}`)}`,
    )
  return `${lines.join('\n')}\n`
}
