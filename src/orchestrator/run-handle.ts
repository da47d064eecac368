import type { RunEvent, RunProgress } from '../core/events.js'
import type { RunId } from '../core/ids.js'
import type { RunResult } from '../workflows/results.js'

/** Options of one run. */
export interface RunOptions {
  /** Most tasks of this run executing at once; overrides the workflow's `concurrency`. */
  concurrency?: number
  /** Called with progress (throttled by `progressIntervalMs`, and once at the end). */
  onProgress?: (progress: RunProgress) => void
  /** Called with every event of this run. */
  onEvent?: (event: RunEvent) => void
  /** Use this id instead of a generated one. */
  runId?: string
  /** Who starts it (`cli`, `key:<id>`…): `run.started`'s `actor`. */
  actor?: string
  /**
   * Debug mode: model answers and tool results are kept whole in traces (not
   * cut at 2,000 characters) and each `model.called` event carries the
   * conversation sent (`prompt`). Stored with the run. @default false
   */
  debug?: boolean
  /**
   * Break on error: when a task is about to fail for good (its retries and
   * fallback spent, not `continueOnFailure`), the run goes PAUSED instead
   * (`run.paused` with `reason: 'break on error'`); `resume` retries that
   * task, `replay` starts a changed run. Stored with the run. @default false
   */
  breakOnError?: boolean
}

/** Options of pause, resume and cancel. */
export interface ControlOptions {
  /** Who asks (`cli`, `key:<id>`…): the `actor` of the event it writes. */
  actor?: string
}

/** A run in progress; `Outputs` types the result's outputs when the workflow was built in TypeScript. */
export interface RunHandle<Outputs extends Record<string, unknown> = Record<string, unknown>> {
  readonly id: RunId
  /** Settles when the run is final; never rejects for a task failure (see `result.ok`). */
  readonly result: Promise<RunResult<Outputs>>
  pause(): void
  resume(): void
  cancel(reason?: string): void
  /** Progress now. */
  progress(): RunProgress
}
