import type { RunResult } from '../workflows/results.js'
import { cell, formatDuration, formatPercent, type Paint } from './format.js'
import { storeArg } from './runs-shared.js'

/** Most failed tasks listed one by one in a summary. */
const MAX_FAILED_LISTED = 20

/**
 * A readable summary of a finished run: state, duration, counts and success
 * rate, critical path, parallel efficiency, each agent's contribution, and
 * the failed tasks with their error code and message.
 *
 * @example
 * ```ts
 * process.stdout.write(formatSummary(await handle.result, paint(false)))
 * ```
 */
export function formatSummary(result: RunResult, p: Paint): string {
  const s = result.summary
  const state = result.ok ? p.green(result.state) : p.red(result.state)
  const c = s.counts
  const lines: string[] = [
    '',
    `${p.bold(`Run ${result.runId}`)} of workflow "${result.workflow}": ${state} in ${formatDuration(s.durationMs)}`,
    `  tasks          ${c.succeeded} succeeded, ${c.failed} failed, ${c.skipped} skipped, ${c.cancelled} cancelled · success rate ${c.succeeded + c.failed === 0 ? 'n/a (no task ran)' : formatPercent(s.successRate)}`,
    `  critical path  ${s.criticalPath.tasks.join(' → ') || '(none)'} (${formatDuration(s.criticalPath.durationMs)})`,
    `  parallelism    efficiency ${formatPercent(s.parallelEfficiency)} · peak ${s.peakConcurrency} at once · speedup ${s.speedup.toFixed(1)}×`,
  ]
  const agents = Object.entries(s.perAgent).sort((a, b) => b[1].busyMs - a[1].busyMs)
  if (agents.length > 0) {
    lines.push('  agents')
    for (const [name, a] of agents) {
      const failed = a.failed > 0 ? p.red(`${a.failed} failed`) : '0 failed'
      lines.push(`    ${cell(name, 22)} ${String(a.tasks).padStart(4)} ${a.tasks === 1 ? 'task ' : 'tasks'}  ${String(a.succeeded).padStart(4)} ok  ${failed}  busy ${formatDuration(a.busyMs)} (${formatPercent(a.share)})`)
    }
  }
  const failed = Object.values(result.tasks).filter((t) => t.state === 'FAILED')
  if (failed.length > 0) {
    lines.push(p.red('  failed tasks'))
    for (const t of failed.slice(0, MAX_FAILED_LISTED)) {
      const tries = t.attempts === 1 ? '1 attempt' : `${t.attempts} attempts`
      lines.push(`    ${p.red('✗')} ${t.id} (${t.agent ?? 'no agent'}, ${tries}) [${t.error?.code ?? 'UNKNOWN'}] ${t.error?.message ?? 'no error recorded'}`)
    }
    if (failed.length > MAX_FAILED_LISTED) lines.push(`    … and ${failed.length - MAX_FAILED_LISTED} more`)
  }
  if (!result.ok && result.error !== undefined) lines.push(`  ${p.red('run error')}      [${result.error.code}] ${result.error.message}`)
  return `${lines.join('\n')}\n`
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
export function formatStoredNote(result: Pick<RunResult, 'runId' | 'ok'>, store: { label: string; durable: boolean; flag?: string | undefined }, p: Paint): string {
  if (!store.durable) return ''
  const opt = storeArg(store.flag)
  const lines = [`  stored in      ${store.label} · ${p.dim(`flotilla runs show ${result.runId}${opt}`)}`]
  if (!result.ok) lines.push(`  to re-run      what did not succeed, keeping the stored results: ${p.dim(`flotilla runs replay ${result.runId}${opt}`)}`)
  return `${lines.join('\n')}\n`
}
