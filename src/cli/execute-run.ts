import type { FlotillaEvent } from '../core/events.js'
import type { RunResult } from '../workflows/results.js'
import { formatEventLine } from './event-lines.js'
import { paint } from './format.js'
import { LiveDisplay } from './live-display.js'
import type { PreparedWorkflow } from './prepare.js'
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
export async function executeRun(prepared: PreparedWorkflow, input: unknown, options: DisplayOptions, io: CliIO): Promise<RunResult> {
  const { workflow, orchestrator } = prepared
  const useLive = io.out.isTTY === true && !options.json && options.live
  const p = paint(io.out.isTTY === true && !options.json)
  let display: LiveDisplay | undefined
  const pending: FlotillaEvent[] = []
  let onEvent: ((e: FlotillaEvent) => void) | undefined
  if (useLive) {
    onEvent = (e) => (display ? display.onEvent(e) : pending.push(e))
  } else if (!options.json) {
    onEvent = (e) => {
      const line = formatEventLine(e, options.verbose)
      if (line !== undefined) io.out.write(`${line}\n`)
    }
  }
  const handle = orchestrator.start(workflow, input, { onEvent, concurrency: options.concurrency })
  if (useLive) {
    display = new LiveDisplay(io.out, workflow, handle.id, p)
    for (const e of pending.splice(0)) display.onEvent(e)
    display.start()
  }
  let interrupts = 0
  const onSigint = (): void => {
    interrupts++
    if (interrupts === 1) {
      io.err.write('\nInterrupted: cancelling the run (press Ctrl-C again to quit at once).\n')
      handle.cancel('interrupted (Ctrl-C)')
    } else {
      if (useLive) io.out.write('\x1b[?25h')
      process.exit(130)
    }
  }
  process.on('SIGINT', onSigint)
  // The engine's timers (timeouts, retry backoff) do not hold the process open; the CLI must, until the run ends.
  const keepAlive = setInterval(() => undefined, 60_000)
  let result: RunResult
  try {
    result = await handle.result
  } finally {
    clearInterval(keepAlive)
    process.off('SIGINT', onSigint)
    display?.stop()
  }
  if (options.json) io.out.write(`${JSON.stringify(resultJson(result), null, 2)}\n`)
  else {
    io.out.write(formatSummary(result, p))
    if (options.verbose && result.error?.stack) io.err.write(`${stackOf(result.error)}\n`)
  }
  return result
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
