import type { RunEvent } from '../core/events.js'
import type { TaskRecord } from '../store/records.js'
import type { Workflow } from '../workflows/compile.js'
import { fitLine, type Paint } from './format.js'
import { LiveDisplay, type TerminalLike } from './live-display.js'

/** Options of {@link LiveGroup}. */
export interface LiveGroupOptions {
  /** Most task lines shown over all runs together. @default 20 */
  maxTaskLines?: number
  /** Least time between two redraws, in ms. @default 100 */
  intervalMs?: number
  /** Time source for elapsed times. @default Date.now */
  now?: () => number
}

/**
 * The live display of several runs at once (`flotilla recover` on a
 * terminal): one {@link LiveDisplay} frame per run, stacked and redrawn in
 * place together; events are routed by run id.
 *
 * @example
 * ```ts
 * const group = new LiveGroup(process.stdout, paint(true))
 * group.add(record.id, workflow, storedTasks)
 * group.start()
 * // pass every event to group.onEvent(e), then:
 * group.stop()
 * ```
 */
export class LiveGroup {
  private readonly displays = new Map<string, LiveDisplay>()
  private readonly intervalMs: number
  private readonly maxTaskLines: number
  private readonly now: (() => number) | undefined
  private readonly notices: string[] = []
  private timer: ReturnType<typeof setInterval> | undefined
  private drawnLines = 0
  private started = false
  private stopped = false
  /** What the member displays see: the real terminal's width, no output of their own. */
  private readonly member: TerminalLike

  constructor(
    private readonly out: TerminalLike,
    private readonly p: Paint,
    options: LiveGroupOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 100
    this.maxTaskLines = options.maxTaskLines ?? 20
    this.now = options.now
    this.member = {
      write: () => undefined,
      get columns() {
        return out.columns
      },
    }
  }

  /** Adds the frame of a run; call it before the run's first event. */
  add(runId: string, workflow: Workflow, initial?: readonly TaskRecord[]): void {
    const perRun = Math.max(3, Math.floor(this.maxTaskLines / (this.displays.size + 1)))
    this.displays.set(
      runId,
      new LiveDisplay(this.member, workflow, runId, this.p, { initial, maxTaskLines: perRun, now: this.now }),
    )
  }

  /** Drops the frame of a run (one that could not be resumed after all). */
  remove(runId: string): void {
    this.displays.delete(runId)
  }

  /** Number of runs shown. */
  get size(): number {
    return this.displays.size
  }

  /** Records an event of one of the runs; the next redraw shows it. */
  onEvent(event: RunEvent): void {
    this.displays.get(event.runId)?.onEvent(event)
  }

  /** Hides the cursor, draws the first frame and starts redrawing. */
  start(): void {
    if (this.started) return
    this.started = true
    this.out.write('\x1b[?25l')
    this.render()
    this.timer = setInterval(() => this.render(), this.intervalMs)
  }

  /** Shows a line under the frames (drawn inside, so that redraws leave no fragment). */
  notice(text: string): void {
    this.notices.push(text)
    if (this.timer !== undefined) this.render()
  }

  /** Draws the final frame, stops redrawing and shows the cursor again; later calls do nothing. */
  stop(): void {
    if (this.stopped || !this.started) return
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.render()
    this.out.write('\x1b[?25h')
  }

  /** The lines of the current frame (exposed for tests). */
  lines(): string[] {
    const width = Math.max(40, (this.out.columns !== undefined && this.out.columns > 0 ? this.out.columns : 100) - 1)
    const lines: string[] = []
    for (const display of this.displays.values()) lines.push(...display.lines())
    for (const n of this.notices) lines.push(fitLine(this.p.yellow(n), width))
    return lines
  }

  private render(): void {
    const lines = this.lines()
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A\r` : ''
    for (const line of lines) text += `\x1b[2K${line}\n`
    text += '\x1b[J'
    this.out.write(text)
    this.drawnLines = lines.length
  }
}
