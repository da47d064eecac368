import type { RunEvent } from '../core/events.js'
import type { TaskState } from '../core/states.js'
import type { TaskRecord } from '../store/records.js'
import type { Workflow } from '../workflows/compile.js'
import {
  cell,
  fitLine,
  formatDuration,
  formatPercent,
  middleCell,
  progressBar,
  visibleLength,
  type Paint,
} from './format.js'
import { TaskBoard, type TaskView } from './task-board.js'

/** The terminal the display draws on. */
export interface TerminalLike {
  write(text: string): unknown
  readonly columns?: number
}

/** Options of {@link LiveDisplay}. */
export interface LiveDisplayOptions {
  /** Most task lines shown; the rest are summarised by state. @default 20 */
  maxTaskLines?: number
  /** Least time between two redraws, in ms. @default 100 */
  intervalMs?: number
  /** Time source for elapsed times. @default Date.now */
  now?: () => number
  /** Stored tasks to show before their events arrive (a recovered or replayed run). */
  initial?: readonly TaskRecord[]
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
/** Order in which tasks claim the visible lines: active and failed ones first. */
const VISIBILITY: Record<TaskState, number> = {
  RUNNING: 0,
  RETRYING: 1,
  FAILED: 2,
  READY: 3,
  CANCELLED: 4,
  SUCCEEDED: 5,
  SKIPPED: 6,
  PENDING: 7,
}

/**
 * A live view of one run on a terminal, redrawn in place (cursor up, clear
 * line) at most every `intervalMs`: a header, one line per task (state
 * symbol, id, agent, attempts, duration) and a progress bar with counts and
 * ETA. Uses plain ANSI escapes, no dependency.
 *
 * @example
 * ```ts
 * const display = new LiveDisplay(process.stdout, workflow, handle.id, paint(true))
 * display.start()
 * // pass every event of the run to display.onEvent(e), then:
 * display.stop()
 * ```
 */
export class LiveDisplay {
  private readonly board: TaskBoard
  private readonly maxTaskLines: number
  private readonly intervalMs: number
  private readonly now: () => number
  private readonly startedAt: number
  private timer: ReturnType<typeof setInterval> | undefined
  private drawnLines = 0
  private frame = 0
  private notices: string[] = []
  private stopped = false

  constructor(
    private readonly out: TerminalLike,
    private readonly workflow: Workflow,
    private readonly runId: string,
    private readonly p: Paint,
    options: LiveDisplayOptions = {},
  ) {
    this.board = new TaskBoard(workflow)
    if (options.initial !== undefined) this.board.seed(options.initial)
    this.maxTaskLines = options.maxTaskLines ?? 20
    this.intervalMs = options.intervalMs ?? 100
    this.now = options.now ?? Date.now
    this.startedAt = this.now()
  }

  /** Hides the cursor, draws the first frame and starts redrawing. */
  start(): void {
    this.out.write('\x1b[?25l')
    this.render()
    this.timer = setInterval(() => this.render(), this.intervalMs)
  }

  /** Records an event; the next redraw shows it. */
  onEvent(event: RunEvent): void {
    this.board.apply(event)
  }

  /**
   * Shows a line under the frame (e.g. "Interrupted: cancelling the run").
   * Written inside the frame rather than on the terminal directly, so that
   * the next redraw does not leave a fragment of the old frame behind.
   */
  notice(text: string): void {
    this.notices.push(text)
    if (this.timer !== undefined) this.render()
  }

  /** Draws the final frame, stops redrawing and shows the cursor again; later calls do nothing. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.render()
    this.out.write('\x1b[?25h')
  }

  /** The lines of the current frame (exposed for tests). */
  lines(): string[] {
    const p = this.p
    const columns = this.out.columns !== undefined && this.out.columns > 0 ? this.out.columns : 100
    const width = Math.max(40, columns - 1)
    const elapsed = this.now() - this.startedAt
    const state = this.board.finished ?? 'RUNNING'
    const stateText = state === 'SUCCEEDED' ? p.green(state) : state === 'RUNNING' ? p.cyan(state) : p.red(state)
    const lines = [
      `${p.bold(`flotilla ▸ ${this.workflow.name}`)}  ${p.dim(`run ${this.runId}`)}  ${stateText}  ${p.dim(formatDuration(elapsed))}`,
    ]
    const tasks = this.board.tasks
    const visible = tasks.length <= this.maxTaskLines ? tasks : this.pickVisible()
    const cols = this.columnsFor(visible, width)
    for (const t of visible) lines.push(this.taskLine(t, width, cols))
    if (visible.length < tasks.length) {
      const shown = new Set(visible)
      const hidden: Partial<Record<TaskState, number>> = {}
      for (const t of tasks) if (!shown.has(t)) hidden[t.state] = (hidden[t.state] ?? 0) + 1
      const parts = Object.entries(hidden).map(([s, n]) => `${n} ${s.toLowerCase()}`)
      lines.push(p.dim(`  … ${tasks.length - visible.length} more: ${parts.join(', ')}`))
    }
    lines.push(this.progressLine())
    for (const n of this.notices) lines.push(p.yellow(n))
    return lines.map((l) => fitLine(l, width))
  }

  private render(): void {
    this.frame++
    const lines = this.lines()
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A\r` : ''
    for (const line of lines) text += `\x1b[2K${line}\n`
    text += '\x1b[J'
    this.out.write(text)
    this.drawnLines = lines.length
  }

  private pickVisible(): TaskView[] {
    const ranked = this.board.tasks.map((t, i) => ({ t, i }))
    ranked.sort((a, b) => VISIBILITY[a.t.state] - VISIBILITY[b.t.state] || a.i - b.i)
    return ranked
      .slice(0, this.maxTaskLines)
      .sort((a, b) => a.i - b.i)
      .map((r) => r.t)
  }

  /**
   * Widths of the id and agent columns: as wide as the longest shown, within
   * bounds that leave room for attempts, time and a note at `width` (an id
   * gets up to 24 characters at 80 columns; longer ones are cut in the middle).
   */
  private columnsFor(tasks: readonly TaskView[], width: number): { id: number; agent: number } {
    let id = 4
    let agent = 5
    for (const t of tasks) {
      id = Math.max(id, [...t.id].length)
      agent = Math.max(agent, [...t.agent].length)
    }
    // 2 + symbol + spaces + tries (8) + time (9) take 25 columns; keep at least 14 for the note.
    const room = Math.max(20, width - 25 - 14)
    const agentWidth = Math.min(agent, 18, Math.max(8, Math.floor(room * 0.4)))
    return { id: Math.min(id, Math.max(8, room - agentWidth)), agent: agentWidth }
  }

  private taskLine(t: TaskView, width: number, columns: { id: number; agent: number }): string {
    const p = this.p
    const symbol = this.symbol(t.state)
    const tries = t.attempts === 0 ? '' : t.attempts === 1 ? '1 try' : `${t.attempts} tries`
    let time = ''
    if (t.startedAt !== undefined) time = formatDuration(Math.max(0, this.now() - t.startedAt))
    else if (t.durationMs !== undefined) time = formatDuration(t.durationMs)
    const head = `  ${symbol} ${middleCell(t.id, columns.id)} ${middleCell(t.agent, columns.agent)} ${cell(tries, 8)} ${cell(time, 9)} `
    // Cut the note before styling it, so that a long error keeps its colour.
    const room = Math.max(0, width - visibleLength(head))
    const fit = (text: string): string => (visibleLength(text) <= room ? text : cell(text, room))
    let note = ''
    if (t.state === 'RUNNING' && t.fraction !== undefined)
      note = fit(`${formatPercent(t.fraction)}${t.note ? ` ${t.note}` : ''}`)
    else if ((t.state === 'FAILED' || t.state === 'RETRYING') && t.error)
      note = p.red(fit(`${t.error.code}: ${t.error.message}`))
    else if (t.state === 'PENDING') note = p.dim('waiting')
    return `${head}${note}`.trimEnd()
  }

  private symbol(state: TaskState): string {
    const p = this.p
    switch (state) {
      case 'SUCCEEDED':
        return p.green('✓')
      case 'FAILED':
        return p.red('✗')
      case 'RUNNING':
        return p.cyan(SPINNER[this.frame % SPINNER.length])
      case 'RETRYING':
        return p.yellow('↻')
      case 'SKIPPED':
        return p.dim('↷')
      case 'CANCELLED':
        return p.yellow('⊘')
      default:
        return p.dim('○')
    }
  }

  private progressLine(): string {
    const p = this.p
    const progress = this.board.progress
    const counts = this.board.counts()
    const total = this.board.tasks.length
    const done = counts.SUCCEEDED + counts.FAILED + counts.SKIPPED + counts.CANCELLED
    // Running tasks that report progress move the bar between completions.
    let partial = 0
    if (counts.RUNNING > 0)
      for (const t of this.board.tasks) if (t.state === 'RUNNING' && t.fraction !== undefined) partial += t.fraction
    const fraction = total === 0 ? 1 : Math.min(1, (done + partial) / total)
    const parts = [`${done}/${total} done`]
    if (counts.RUNNING > 0) parts.push(`${counts.RUNNING} running`)
    if (counts.RETRYING > 0) parts.push(p.yellow(`${counts.RETRYING} retrying`))
    if (counts.FAILED > 0) parts.push(p.red(`${counts.FAILED} failed`))
    if (counts.SKIPPED > 0) parts.push(`${counts.SKIPPED} skipped`)
    if (counts.CANCELLED > 0) parts.push(p.yellow(`${counts.CANCELLED} cancelled`))
    const eta =
      this.board.finished !== undefined
        ? ''
        : progress?.etaMs !== undefined
          ? ` · ETA ${formatDuration(progress.etaMs)}`
          : ' · ETA –'
    return `  ${p.cyan(progressBar(fraction, 28))} ${formatPercent(fraction).padStart(6)}  ${parts.join(' · ')}${eta}`
  }
}
