import { FlotillaError, isFlotillaError, toFlotillaError, type SerializedError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId, TaskId } from '../core/ids.js'
import type { ModelSpend } from '../core/model-spend.js'
import type { StoreOp } from '../store/records.js'
import type { RunEvents } from './run-events.js'
import { S, type RunExecution } from './run-execution.js'
import type { EngineOptions, Scheduler } from './scheduler.js'
import { afterFailure, checkOutput } from './task-io.js'
import type { WriteAhead } from './write-ahead.js'

/**
 * The completion side of the scheduler: what an attempt's outcome does to its
 * task and run. A success stores the output and releases the dependents; a
 * failure retries (maybe on the fallback agent), is tolerated, or fails the
 * run; a run ends succeeded, failed or cancelled, or is stopped here without
 * writing anything more (a refused write, another process's pause or cancel,
 * a detach). Slots are given back through the {@link Scheduler}, which calls
 * the outcomes of the attempts it started.
 */
export class Transitions {
  /**
   * The last finished run, kept alive on purpose: V8 keeps an object shape
   * (map) only while some object uses it, and discards the optimised
   * scheduler code built for it when a full GC collects the last one —
   * between two runs, say — so every run would start cold again.
   */
  private lastRun: RunExecution | undefined = undefined

  constructor(
    private readonly o: EngineOptions,
    private readonly wal: WriteAhead<RunExecution>,
    private readonly runs: Map<RunId, RunExecution>,
    private readonly scheduler: Scheduler,
    private readonly events: RunEvents,
  ) {}

  onAttemptSucceeded(run: RunExecution, i: number, attempt: number, output: unknown): void {
    if (run.finished || run.attempts[i] !== attempt || run.taskState[i] !== S.RUNNING) return
    const def = run.attemptsInFlight[i]?.instance.definition
    if (def !== undefined) {
      try {
        output = checkOutput(def, output, run.workflow.tasks[i].id)
      } catch (e) {
        return this.onAttemptFailed(run, i, attempt, e)
      }
    }
    this.scheduler.release(run, i, true)
    run.setState(i, S.SUCCEEDED)
    run.errors[i] = undefined
    const at = this.o.clock.wallNow()
    const taskId = run.workflow.tasks[i].id as TaskId
    run.outputs[i] = output
    // The result joins the current batch; dependents made ready now stage their
    // starts into the same batch, so the result and the starts that read it are
    // stored in one transaction before any of those handlers is called.
    this.wal.stage(
      run,
      withModel({ op: 'task.succeed', runId: run.id, taskId, attempt, output, at }, run.takeModel(i)),
      { type: 'task.succeeded', at, runId: run.id, taskId, attempt, durationMs: run.durationMs[i] },
      undefined,
    )
    this.taskDone(run, i)
    this.scheduler.pump()
  }

  onAttemptFailed(run: RunExecution, i: number, attempt: number, thrown: unknown): void {
    if (run.finished || run.attempts[i] !== attempt || run.taskState[i] !== S.RUNNING) return
    const error = isFlotillaError(thrown) ? thrown : toFlotillaError(thrown, 'TASK_FAILED')
    run.errors[i] = error
    this.scheduler.release(run, i, error.code === 'AGENT_INPUT_INVALID' ? undefined : false)
    const task = run.workflow.tasks[i]
    const taskId = task.id as TaskId
    const at = this.o.clock.wallNow()
    const json = error.toJSON()
    const next = afterFailure(task, run.tries[i], run.usingFallback[i] === 1, error, this.o.random)
    if (next !== undefined) {
      const { delayMs, toFallback } = next
      run.setState(i, S.RETRYING)
      this.wal.stage(
        run,
        withModel({ op: 'task.fail', runId: run.id, taskId, attempt, error: json, at, final: false }, run.takeModel(i)),
        { type: 'task.retrying', at, runId: run.id, taskId, attempt, delayMs, error: json },
        () => {
          if (run.finished) return
          if (toFallback) {
            run.usingFallback[i] = 1
            run.tries[i] = 0
          }
          const again = (): void => {
            run.retryTimers.delete(i)
            if (run.finished || run.taskState[i] !== S.RETRYING) return
            this.scheduler.enqueue(run, i)
            this.scheduler.pump()
          }
          if (delayMs === 0) again()
          else run.retryTimers.set(i, this.o.clock.setTimeout(again, delayMs))
        },
      )
    } else if (run.breakOnError && !task.continueOnFailure && run.state === 'RUNNING') {
      this.breakOnError(run, i, attempt, json, at)
    } else {
      run.setState(i, S.FAILED)
      const tolerated = task.continueOnFailure
      this.wal.stage(
        run,
        withModel({ op: 'task.fail', runId: run.id, taskId, attempt, error: json, at, final: true }, run.takeModel(i)),
        { type: 'task.failed', at, runId: run.id, taskId, attempt, error: json, tolerated },
        undefined,
      )
      if (tolerated) this.taskDone(run, i)
      else
        this.finishRun(
          run,
          'FAILED',
          new FlotillaError(error.code, `Task "${task.id}" failed: ${error.message}`, {
            details: { ...error.details, taskId: task.id },
            cause: error,
            retryable: error.retryable,
          }),
        )
    }
    this.scheduler.pump()
  }

  /**
   * Break on error: the task's failure is stored as an attempt that will be
   * retried (RETRYING), and the run goes PAUSED with the failure in its
   * `run.paused` event, in one batch; the task waits with the paused items,
   * so `resume` (here, or a recovery elsewhere) retries it.
   */
  private breakOnError(run: RunExecution, i: number, attempt: number, error: SerializedError, at: number): void {
    const taskId = run.workflow.tasks[i].id as TaskId
    run.setState(i, S.RETRYING)
    run.state = 'PAUSED'
    this.wal.stage(
      run,
      withModel({ op: 'task.fail', runId: run.id, taskId, attempt, error, at, final: false }, run.takeModel(i)),
      undefined,
      undefined,
    )
    this.wal.stage(
      run,
      { op: 'run.state', runId: run.id, state: 'PAUSED', at },
      { type: 'run.paused', at, runId: run.id, reason: 'break on error', taskId, attempt, error },
      () => {
        if (run.finished || run.taskState[i] !== S.RETRYING) return
        this.scheduler.enqueue(run, i)
        this.scheduler.pump()
      },
    )
  }

  /** A task reached a final state: count it, release its dependents, maybe finish the run. */
  taskDone(run: RunExecution, i: number): void {
    if (run.finished) return
    run.done++
    const dependents = run.workflow.tasks[i].dependents
    for (let k = 0; k < dependents.length; k++) {
      const j = dependents[k]
      if (run.releases(i, j)) this.scheduler.enqueue(run, j)
    }
    if (run.done === run.total) return this.finishRun(run, 'SUCCEEDED', undefined)
    // The time of the latest release is recent enough to throttle progress reports.
    const now = this.scheduler.lastNow
    if (now - run.lastProgressAt >= this.o.progressIntervalMs) this.events.runProgress(run, now)
  }

  finishRun(
    run: RunExecution,
    state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED',
    error: FlotillaError | undefined,
    actor?: string,
  ): void {
    if (run.finished) return
    run.state = state
    run.error = error
    const at = this.o.clock.wallNow()
    const reason = state === 'CANCELLED' ? String(error?.details.reason ?? 'cancelled') : 'the run failed'
    for (let i = 0; i < run.total; i++) {
      const s = run.taskState[i]
      if (s === S.SUCCEEDED || s === S.FAILED || s === S.SKIPPED || s === S.CANCELLED) continue
      if (s === S.RUNNING) {
        const h = run.attemptsInFlight[i]
        h?.controller?.abort(
          new FlotillaError('TASK_CANCELLED', `Run ${run.id} was ${state.toLowerCase()}: ${reason}.`),
        )
        if (h !== undefined) this.scheduler.release(run, i, undefined)
      }
      const timer = run.retryTimers.get(i)
      if (timer !== undefined) this.o.clock.clearTimeout(timer)
      run.setState(i, S.CANCELLED)
      const taskId = run.workflow.tasks[i].id as TaskId
      this.wal.stage(
        run,
        { op: 'task.finish', runId: run.id, taskId, state: 'CANCELLED', at, reason },
        { type: 'task.cancelled', at, runId: run.id, taskId, reason },
        undefined,
      )
    }
    run.retryTimers.clear()
    run.pausedItems = []
    run.limitParked.drain()
    run.endMono = this.o.clock.now()
    run.ended = true
    run.done = run.total
    const durationMs = run.endMono - run.startMono
    this.events.runProgress(run, this.o.clock.now())
    const json = error?.toJSON()
    const event: RunEvent =
      state === 'SUCCEEDED'
        ? { type: 'run.succeeded', at, runId: run.id, durationMs }
        : state === 'FAILED'
          ? { type: 'run.failed', at, runId: run.id, durationMs, error: json! }
          : { type: 'run.cancelled', at, runId: run.id, durationMs, reason, ...(actor === undefined ? {} : { actor }) }
    this.wal.stage(run, { op: 'run.state', runId: run.id, state, at, error: json }, event, () => {
      this.runs.delete(run.id)
      this.lastRun = run
      run.unpinPools()
      run.settle()
    })
  }

  /** A batch was refused: each of its runs stops here, its result saying what the store holds (the refused writes taken back). */
  onStoreFailure(e: unknown, runs: ReadonlySet<RunExecution>, refused: readonly StoreOp[]): void {
    const error = toFlotillaError(e, 'STORE_UNAVAILABLE')
    const runState = error.code === 'STORE_CONFLICT' ? error.details.runState : undefined
    for (const run of runs) {
      if (run.stopped) continue
      const notStarted = run.unstage(refused)
      if (runState === 'PAUSED' || runState === 'CANCELLED') this.controlledElsewhere(run, runState)
      else
        this.stopLocally(
          run,
          'FAILED',
          new FlotillaError(error.code, `Run ${run.id} stopped: the store refused a write (${error.message}).`, {
            cause: error,
            details: error.details,
          }),
        )
      for (const i of notStarted) if (run.taskState[i] === S.RUNNING) run.setState(i, S.PENDING)
    }
  }

  /**
   * Another process paused or cancelled the run in the store (seen through a
   * refused write, or by the orchestrator's lease check): stop it here
   * without writing anything more. Running handlers are aborted; a paused run
   * is resumed with `resume` (here or in any process), its interrupted
   * attempts running again with attempt + 1 and the same idempotency key.
   */
  controlledElsewhere(run: RunExecution, state: 'PAUSED' | 'CANCELLED'): void {
    if (run.finished) return
    const at = this.o.clock.wallNow()
    const event: RunEvent =
      state === 'PAUSED'
        ? { type: 'run.paused', at, runId: run.id, by: 'another process' }
        : {
            type: 'run.cancelled',
            at,
            runId: run.id,
            durationMs: this.o.clock.now() - run.startMono,
            reason: 'cancelled by another process',
          }
    const message =
      state === 'PAUSED'
        ? `Run ${run.id} was paused by another process; resume it with \`flotilla runs resume ${run.id}\` (or orchestrator.resume).`
        : `Run ${run.id} was cancelled by another process.`
    this.stopLocally(
      run,
      state,
      new FlotillaError(state === 'PAUSED' ? 'RUN_INTERRUPTED' : 'TASK_CANCELLED', message, {
        details: { runId: run.id, by: 'another process' },
      }),
    )
    this.o.deliver([event])
  }

  /**
   * Stops a run in this process without writing anything more: running
   * handlers are aborted, their slots freed, and the result settles with
   * `state` (the store keeps what it had, so an unfinished run can be
   * recovered later).
   */
  stopLocally(run: RunExecution, state: 'FAILED' | 'RUNNING' | 'PAUSED' | 'CANCELLED', error: FlotillaError): void {
    if (!run.finished) {
      for (let i = 0; i < run.total; i++) {
        const s = run.taskState[i]
        if (s === S.RUNNING) {
          run.attemptsInFlight[i]?.controller?.abort(error)
          this.scheduler.release(run, i, undefined)
        }
        // What the store now says of a cancelled run's unfinished tasks.
        if (state === 'CANCELLED' && s !== S.SUCCEEDED && s !== S.FAILED && s !== S.SKIPPED && s !== S.CANCELLED)
          run.setState(i, S.CANCELLED)
      }
      for (const timer of run.retryTimers.values()) this.o.clock.clearTimeout(timer)
      run.retryTimers.clear()
    }
    run.error ??= error
    run.state = state
    run.stopped = true
    if (!run.ended) {
      run.endMono = this.o.clock.now()
      run.ended = true
    }
    this.runs.delete(run.id)
    run.unpinPools()
    run.settle()
  }
}

/** A result op with the task's model spend, when the attempt made or replayed a model call. */
function withModel<T extends StoreOp>(op: T, model: ModelSpend | undefined): T {
  return model === undefined ? op : { ...op, model }
}
