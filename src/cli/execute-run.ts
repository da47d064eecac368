import type { RunEvent } from '../core/events.js'
import type { RunHandle } from '../orchestrator/orchestrator.js'
import type { TaskRecord } from '../store/records.js'
import type { Workflow } from '../workflows/compile.js'
import type { RunResult } from '../workflows/results.js'
import { formatEventLine } from './event-lines.js'
import { paint } from './format.js'
import { LiveDisplay } from './live-display.js'
import type { PreparedWorkflow } from './prepare.js'
import { outputWidth } from './outputs.js'
import { formatSummary, resultJson } from './summary.js'

/** Where a command writes. */
export interface CliIO {
  readonly out: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number }
  readonly err: NodeJS.WritableStream
}

/** How a run is shown. */
export interface DisplayOptions {
  /** Print only the result JSON at the end. */
  json: boolean
  /** Use the live display when the output is a terminal. */
  live: boolean
  /** Show progress and log events, and stacks of errors. */
  verbose: boolean
  /** Most tasks running at once, overriding the workflow's. */
  concurrency?: number | undefined
  /** Show the final outputs under the summary. @default true */
  outputs?: boolean | undefined
  /** Start the run in debug mode (see `RunOptions.debug`). */
  debug?: boolean | undefined
  /** Start the run with break on error; at a break, this process lets go of the run (left PAUSED in the store). */
  breakOnError?: boolean | undefined
}

/** A run to execute and show: how to start it, and what it looks like before its first event. */
export interface RunToWatch {
  workflow: Workflow
  /** Starts (or recovers, or replays) the run, passing every event of it to `onEvent`. */
  begin(onEvent: ((event: RunEvent) => void) | undefined): RunHandle | Promise<RunHandle>
  /** Stored tasks to show before their events arrive (a recovered or replayed run). */
  initial?: readonly TaskRecord[]
  /** Fields added to the result JSON (e.g. `parentRunId` of a replay). */
  extraJson?: Record<string, unknown>
}

/**
 * Runs a prepared workflow and shows it: a live display on a terminal,
 * plain event lines otherwise, or nothing until the end with `json`. Ctrl-C
 * cancels the run (a second Ctrl-C quits at once). Prints the summary (or
 * the JSON) and returns the result; the caller decides the exit code.
 *
 * @example
 * ```ts
 * const result = await executeRun(prepared, { target: '.' }, { json: false, live: true, verbose: false }, { out: process.stdout, err: process.stderr })
 * ```
 */
export function executeRun(
  prepared: PreparedWorkflow,
  input: unknown,
  options: DisplayOptions,
  io: CliIO,
): Promise<RunResult> {
  const { workflow, orchestrator } = prepared
  return watchRun(
    {
      workflow,
      begin: (onEvent) =>
        orchestrator.start(workflow, input, {
          concurrency: options.concurrency,
          debug: options.debug === true,
          breakOnError: options.breakOnError === true,
          onEvent: (e) => {
            onEvent?.(e)
            if (e.type === 'run.paused' && e.reason === 'break on error') {
              io.err.write(breakNotice(e.runId, e.taskId ?? '', e.error?.message ?? ''))
              // Lets go of the run: it stays PAUSED in the store, for `flotilla runs resume` in any process.
              void orchestrator.close()
            }
          },
        }),
    },
    options,
    io,
  )
}

/** What the CLI says when a run breaks on an error. */
function breakNotice(runId: string, taskId: string, message: string): string {
  return `\nbreak on error: task "${taskId}" failed (${message}); run ${runId} is PAUSED in the store.
  inspect  flotilla runs show ${runId}   (and flotilla runs trace ${runId})
  resume   flotilla runs resume ${runId}   (retries task "${taskId}")
  replay   flotilla runs replay ${runId} --from ${taskId}   (a new run, with changes: see --set)\n`
}

/**
 * Executes one run in this process and shows it like {@link executeRun}:
 * the live display or plain event lines, Ctrl-C to cancel, then the
 * summary or the JSON.
 */
export async function watchRun(target: RunToWatch, options: DisplayOptions, io: CliIO): Promise<RunResult> {
  const useLive = io.out.isTTY === true && !options.json && options.live
  const p = paint(io.out.isTTY === true && !options.json)
  let display: LiveDisplay | undefined
  const pending: RunEvent[] = []
  let onEvent: ((e: RunEvent) => void) | undefined
  if (useLive) {
    onEvent = (e) => (display ? display.onEvent(e) : pending.push(e))
  } else if (!options.json) {
    onEvent = (e) => {
      const line = formatEventLine(e, options.verbose)
      if (line !== undefined) io.out.write(`${line}\n`)
    }
  }
  const handle = await target.begin(onEvent)
  if (useLive) {
    display = new LiveDisplay(io.out, target.workflow, handle.id, p, { initial: target.initial })
    for (const e of pending.splice(0)) display.onEvent(e)
    display.start()
  }
  let result: RunResult
  try {
    result = await untilSettled([handle], io, display).then(([r]) => r)
  } finally {
    display?.stop()
  }
  if (options.json) io.out.write(`${JSON.stringify({ ...resultJson(result), ...target.extraJson }, null, 2)}\n`)
  else {
    io.out.write(formatSummary(result, p, { width: outputWidth(io.out.columns), outputs: options.outputs }))
    if (options.verbose && result.error?.stack) io.err.write(`${stackOf(result.error)}\n`)
  }
  return result
}

/** A display drawn in place on the terminal while runs execute. */
export interface InPlaceDisplay {
  /** Shows a line inside the display (instead of writing over it). */
  notice(text: string): void
  /** Draws the last frame and gives the cursor back. */
  stop(): void
}

/**
 * Waits for runs executing in this process to settle. Ctrl-C cancels them
 * (a second Ctrl-C quits at once, exit code 130); the process is kept alive
 * meanwhile, as the engine's timers do not hold it open. With a `live`
 * display, the interruption notice is drawn inside it and the display is
 * stopped before a forced exit, so no fragment of a frame is left behind.
 */
export async function untilSettled(
  handles: readonly RunHandle[],
  io: CliIO,
  live?: InPlaceDisplay,
): Promise<RunResult[]> {
  let interrupts = 0
  const onSigint = (): void => {
    interrupts++
    if (interrupts === 1) {
      const what = handles.length === 1 ? 'the run' : `the ${handles.length} runs`
      const text = `Interrupted: cancelling ${what} (press Ctrl-C again to quit at once).`
      if (live) live.notice(text)
      else io.err.write(`\n${text}\n`)
      for (const h of handles) {
        try {
          h.cancel('interrupted (Ctrl-C)')
        } catch {
          // Already finished.
        }
      }
    } else {
      live?.stop()
      process.exit(130)
    }
  }
  process.on('SIGINT', onSigint)
  const keepAlive = setInterval(() => undefined, 60_000)
  try {
    return await Promise.all(handles.map((h) => h.result))
  } finally {
    clearInterval(keepAlive)
    process.off('SIGINT', onSigint)
  }
}

/** The stack of an error and of its causes. */
export function stackOf(error: unknown): string {
  const parts: string[] = []
  let cur: unknown = error
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof Error) parts.push(cur.stack ?? `${cur.name}: ${cur.message}`)
    else parts.push(String(cur))
    cur = cur instanceof Error ? cur.cause : undefined
    if (cur !== undefined && cur !== null) parts.push('caused by:')
  }
  return parts.join('\n')
}
