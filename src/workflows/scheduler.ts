import type { Clock } from '../core/clock.js'
import { FlotillaError, isFlotillaError, toFlotillaError } from '../core/errors.js'
import type { FlotillaEvent } from '../core/events.js'
import { asTaskId, type AgentId, type RunId, type TaskId } from '../core/ids.js'
import type { LogLevel } from '../agents/context.js'
import type { ServiceMembers } from '../agents/service-members.js'
import type { AgentInstance } from '../registry/agent-instance.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { Registry } from '../registry/registry.js'
import type { StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'
import { Limits } from './limits.js'
import { ReadyQueue, type ReadyItem } from './ready-queue.js'
import { S, type AttemptHandle, type RunExecution } from './run-execution.js'
import { afterFailure, checkOutput, prepareInput } from './task-io.js'
import { TaskContext, type ContextSink } from './task-context.js'
import { WriteAhead } from './write-ahead.js'
import type { InvokeNext } from './invoker.js'

/** Options of the scheduler, resolved by the orchestrator. */
export interface EngineOptions {
  store: Store
  registry: Registry
  clock: Clock
  /** Most task attempts executing at once across all runs. */
  concurrency: number
  /** Most task attempts executing at once per capability. */
  capabilityConcurrency: Readonly<Record<string, number>>
  /** Least time between two `run.progress` events of one run, in ms. */
  progressIntervalMs: number
  random: () => number
  /** Delivers stored events to listeners. */
  deliver: (events: readonly FlotillaEvent[]) => void
  /** Told of every finished attempt (for execution history and anomaly detection). */
  observe?: (execution: ObservedExecution) => void
  /** The outward services (messages, artifacts, cache) of a task's context; asked for on first use. */
  services?: (instanceId: AgentId, runId: RunId, taskId: TaskId) => ServiceMembers | undefined
  /** The interceptor chain, composed once; `undefined` calls handlers directly. */
  invoke?: InvokeNext
  /** Runs created here are held under this lease (durable stores), so no other process takes them over while this one lives. */
  lease?: { holder: string; ms: number }
}

/** A finished attempt, as {@link EngineOptions.observe} sees it. */
export interface ObservedExecution {
  instance: AgentInstance
  runId: RunId
  taskId: string
  attempt: number
  durationMs: number
  ok: boolean
  errorCode: string | undefined
}

/**
 * The event-driven scheduler: the hot path of every run. Each task has an
 * in-degree counter; a task whose counter reaches zero enters a priority
 * queue (priority, then critical path, then FIFO); the queue is drained while
 * concurrency slots are free. Every transition goes through write-ahead group
 * commit before it is acted on. No step does work proportional to the size of
 * the graph. {@link Engine} adds starting, recovering and controlling runs.
 */
export class Scheduler implements ContextSink {
  protected readonly queue = new ReadyQueue<RunExecution>()
  protected readonly wal: WriteAhead<RunExecution>
  protected readonly limits: Limits
  protected readonly runs = new Map<RunId, RunExecution>()
  private active = 0
  private pumping = false
  /** Clock reading of the latest attempt release. */
  private lastNow = 0
  /**
   * The last run and task context, kept alive on purpose: V8 keeps an
   * object shape (map) only while some object uses it, and discards the
   * optimised scheduler code built for it when a full GC collects the last
   * one — between two runs, say — so every run would start cold again.
   */
  private readonly shapes: { run?: RunExecution; context?: TaskContext } = {}

  constructor(protected readonly o: EngineOptions) {
    this.wal = new WriteAhead<RunExecution>(
      o.store,
      o.deliver,
      () => this.pump(),
      (e, runs, refused) => this.onStoreFailure(e, runs, refused),
    )
    this.limits = new Limits(o.capabilityConcurrency, (item) => this.queue.insert(item))
  }

  protected enqueue(run: RunExecution, index: number): void {
    run.setState(index, S.READY)
    this.queue.push(run, index, run.workflow.tasks[index].rank)
  }

  /** Drains the ready queue while slots are free. */
  pump(): void {
    if (this.pumping) return
    this.pumping = true
    try {
      const q = this.queue
      while (q.size > 0 && this.active < this.o.concurrency) this.dispatch(q.pop()!)
    } finally {
      this.pumping = false
    }
  }

  private dispatch(item: ReadyItem<RunExecution>): void {
    const run = item.run
    const i = item.index
    if (run.finished || run.taskState[i] !== S.READY) return
    if (run.state === 'PAUSED') return void run.pausedItems.push(item)
    if (run.active >= run.concurrency) return void run.limitParked.push(item)
    const task = run.workflow.tasks[i]
    if (task.group !== undefined && !run.groupHasRoom(task.group, item)) return
    if (task.condition !== undefined && run.attempts[i] === 0 && !this.conditionHolds(run, i)) return
    const pool = run.usingFallback[i] ? this.o.registry.pool({ agent: task.fallback! }) : run.pools[i]
    if (!this.limits.tryTake(pool, item)) return
    const picked = pool.acquire()
    if (typeof picked === 'string') {
      this.limits.give(pool)
      if (picked === 'busy') return this.limits.park(pool, item)
      this.limits.wakeRefused(pool)
      const code = picked === 'open' ? 'CIRCUIT_OPEN' : 'AGENT_UNAVAILABLE'
      const error = new FlotillaError(
        code,
        `Task "${task.id}": no instance of ${pool.key} can take work (${picked === 'open' ? 'circuit open' : 'no ready instance'}).`,
        { details: { taskId: task.id, pool: pool.key } },
      )
      return this.startAttempt(run, i, pool, undefined, error)
    }
    this.limits.wakeMore(pool)
    this.startAttempt(run, i, pool, picked, undefined)
  }

  private conditionHolds(run: RunExecution, i: number): boolean {
    const task = run.workflow.tasks[i]
    let holds: boolean
    try {
      holds = task.condition!(run)
    } catch (e) {
      holds = false
      run.errors[i] = toFlotillaError(e, 'WORKFLOW_BAD_REFERENCE')
    }
    if (holds) return true
    run.setState(i, S.SKIPPED)
    const at = this.o.clock.wallNow()
    const reason = `condition "${task.spec.when}" is false`
    this.wal.stage(
      run,
      { op: 'task.finish', runId: run.id, taskId: task.id as TaskId, state: 'SKIPPED', at, reason },
      { type: 'task.skipped', at, runId: run.id, taskId: task.id as TaskId, reason },
      undefined,
    )
    this.taskDone(run, i)
    return false
  }

  private startAttempt(
    run: RunExecution,
    i: number,
    pool: AgentPool,
    instance: AgentInstance | undefined,
    refusal: FlotillaError | undefined,
  ): void {
    const task = run.workflow.tasks[i]
    const attempt = ++run.attempts[i]
    run.tries[i]++
    run.setState(i, S.RUNNING)
    const agent = instance ? `${instance.definition.name}@${instance.definition.version}` : pool.key
    run.agentOf[i] = agent
    const at = this.o.clock.wallNow()
    const taskId = task.id as TaskId
    if (instance === undefined) {
      this.wal.stage(run, { op: 'task.start', runId: run.id, taskId, attempt, agent, at }, undefined, undefined)
      run.startedAt[i] = this.o.clock.now()
      return this.onAttemptFailed(run, i, attempt, refusal!)
    }
    const handle: AttemptHandle = { controller: undefined, instance, pool, timer: undefined }
    run.attemptsInFlight[i] = handle
    this.active++
    run.active++
    if (run.active > run.peakActive) run.peakActive = run.active
    if (task.group !== undefined) run.enterGroup(task.group)
    this.wal.stage(
      run,
      { op: 'task.start', runId: run.id, taskId, attempt, agent, at },
      { type: 'task.started', at, runId: run.id, taskId, attempt, agent, instanceId: instance.id },
      () => this.invoke(run, i, attempt, handle),
    )
  }

  private invoke(run: RunExecution, i: number, attempt: number, handle: AttemptHandle): void {
    if (run.attempts[i] !== attempt || run.taskState[i] !== S.RUNNING) return
    const task = run.workflow.tasks[i]
    const def = handle.instance.definition
    run.startedAt[i] = this.o.clock.now()
    let input: unknown
    try {
      input = prepareInput(task, def, run)
    } catch (e) {
      return this.onAttemptFailed(run, i, attempt, e)
    }
    if (task.timeoutMs !== undefined) {
      const ms = task.timeoutMs
      handle.timer = this.o.clock.setTimeout(() => {
        handle.timer = undefined
        // The handler may ignore the signal: its slots stay taken until it settles.
        handle.lingering = true
        const error = new FlotillaError(
          'TASK_TIMEOUT',
          `Task "${task.id}" attempt ${attempt} did not finish within ${ms} ms; raise timeoutMs or make the handler honour ctx.signal.`,
          { details: { taskId: task.id, timeoutMs: ms, attempt } },
        )
        handle.controller?.abort(error)
        this.onAttemptFailed(run, i, attempt, error)
      }, ms)
    }
    const ctx = new TaskContext(this, handle, run.id, task.id as TaskId, attempt, handle.instance.id)
    this.shapes.context = ctx
    let result: unknown
    try {
      const invoke = this.o.invoke
      result =
        invoke === undefined
          ? def.handler(input as never, ctx)
          : invoke({ definition: def, input, context: ctx, runId: run.id, taskId: task.id as TaskId, attempt })
    } catch (e) {
      return this.onAttemptFailed(run, i, attempt, e)
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      ;(result as PromiseLike<unknown>).then(
        (output) =>
          handle.late !== undefined ? this.settleLate(handle) : this.onAttemptSucceeded(run, i, attempt, output),
        (e: unknown) =>
          handle.late !== undefined ? this.settleLate(handle) : this.onAttemptFailed(run, i, attempt, e),
      )
    } else this.onAttemptSucceeded(run, i, attempt, result)
  }

  /** Frees the slots of an attempt; `ok` undefined means abandoned (cancelled). */
  private release(run: RunExecution, i: number, ok: boolean | undefined): void {
    const handle = run.attemptsInFlight[i]
    if (handle === undefined) return
    run.attemptsInFlight[i] = undefined
    if (handle.timer !== undefined) this.o.clock.clearTimeout(handle.timer)
    const ms = (this.lastNow = this.o.clock.now()) - run.startedAt[i]
    run.durationMs[i] = ms
    run.busyMs += ms
    if (handle.lingering === true && ok !== undefined) {
      handle.instance.late++
      handle.late = () => this.freeSlots(run, i, handle, ms, ok)
      return
    }
    this.freeSlots(run, i, handle, ms, ok)
  }

  /** A timed-out handler finally settled: its slots go back, and waiting attempts may start. */
  private settleLate(handle: AttemptHandle): void {
    const free = handle.late!
    handle.late = undefined
    handle.instance.late--
    free()
    this.pump()
  }

  /** Gives back the concurrency slots of an attempt (global, run, instance, capability, group). */
  private freeSlots(run: RunExecution, i: number, handle: AttemptHandle, ms: number, ok: boolean | undefined): void {
    this.active--
    run.active--
    if (ok === undefined) handle.pool.abandon(handle.instance)
    else {
      handle.pool.release(handle.instance, ms, ok)
      this.o.observe?.({
        instance: handle.instance,
        runId: run.id,
        taskId: run.workflow.tasks[i].id,
        attempt: run.attempts[i],
        durationMs: ms,
        ok,
        errorCode: ok ? undefined : run.errors[i]?.code,
      })
    }
    this.limits.give(handle.pool)
    this.limits.wake(handle.instance)
    if (run.limitParked.length > 0 && run.active < run.concurrency) this.queue.insert(run.limitParked.shift()!)
    const group = run.workflow.tasks[i].group
    if (group !== undefined) {
      const next = run.leaveGroup(group)
      if (next !== undefined) this.queue.insert(next)
    }
  }

  private onAttemptSucceeded(run: RunExecution, i: number, attempt: number, output: unknown): void {
    if (run.finished || run.attempts[i] !== attempt || run.taskState[i] !== S.RUNNING) return
    const def = run.attemptsInFlight[i]?.instance.definition
    if (def !== undefined) {
      try {
        output = checkOutput(def, output, run.workflow.tasks[i].id)
      } catch (e) {
        return this.onAttemptFailed(run, i, attempt, e)
      }
    }
    this.release(run, i, true)
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
      { op: 'task.succeed', runId: run.id, taskId, attempt, output, at },
      { type: 'task.succeeded', at, runId: run.id, taskId, attempt, durationMs: run.durationMs[i] },
      undefined,
    )
    this.taskDone(run, i)
    this.pump()
  }

  private onAttemptFailed(run: RunExecution, i: number, attempt: number, thrown: unknown): void {
    if (run.finished || run.attempts[i] !== attempt || run.taskState[i] !== S.RUNNING) return
    const error = isFlotillaError(thrown) ? thrown : toFlotillaError(thrown, 'TASK_FAILED')
    run.errors[i] = error
    this.release(run, i, error.code === 'AGENT_INPUT_INVALID' ? undefined : false)
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
        { op: 'task.fail', runId: run.id, taskId, attempt, error: json, at, final: false },
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
            this.enqueue(run, i)
            this.pump()
          }
          if (delayMs === 0) again()
          else run.retryTimers.set(i, this.o.clock.setTimeout(again, delayMs))
        },
      )
    } else {
      run.setState(i, S.FAILED)
      const tolerated = task.continueOnFailure
      this.wal.stage(
        run,
        { op: 'task.fail', runId: run.id, taskId, attempt, error: json, at, final: true },
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
    this.pump()
  }

  /** A task reached a final state: count it, release its dependents, maybe finish the run. */
  private taskDone(run: RunExecution, i: number): void {
    if (run.finished) return
    run.done++
    const dependents = run.workflow.tasks[i].dependents
    for (let k = 0; k < dependents.length; k++) {
      const j = dependents[k]
      if (--run.remaining[j] === 0) this.enqueue(run, j)
    }
    if (run.done === run.total) this.finishRun(run, 'SUCCEEDED', undefined)
    else this.maybeProgress(run)
  }

  private maybeProgress(run: RunExecution, force = false): void {
    // The time of the latest release is recent enough to throttle progress reports.
    const now = force ? this.o.clock.now() : this.lastNow
    if (!force && now - run.lastProgressAt < this.o.progressIntervalMs) return
    run.lastProgressAt = now
    const progress = run.progress(this.o.clock)
    run.callbacks.onProgress?.(progress)
    this.wal.stage(
      run,
      undefined,
      { type: 'run.progress', at: this.o.clock.wallNow(), runId: run.id, progress },
      undefined,
    )
  }

  protected finishRun(
    run: RunExecution,
    state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED',
    error: FlotillaError | undefined,
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
        if (h !== undefined) this.release(run, i, undefined)
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
    run.lastProgressAt = -Infinity
    this.maybeProgress(run, true)
    const json = error?.toJSON()
    const event: FlotillaEvent =
      state === 'SUCCEEDED'
        ? { type: 'run.succeeded', at, runId: run.id, durationMs }
        : state === 'FAILED'
          ? { type: 'run.failed', at, runId: run.id, durationMs, error: json! }
          : { type: 'run.cancelled', at, runId: run.id, durationMs, reason }
    this.wal.stage(run, { op: 'run.state', runId: run.id, state, at, error: json }, event, () => {
      this.runs.delete(run.id)
      this.shapes.run = run
      run.unpinPools()
      run.settle()
    })
  }

  /** A batch was refused: each of its runs stops here, its result saying what the store holds (the refused writes taken back). */
  private onStoreFailure(e: unknown, runs: ReadonlySet<RunExecution>, refused: readonly StoreOp[]): void {
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
    const event: FlotillaEvent =
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
  protected stopLocally(
    run: RunExecution,
    state: 'FAILED' | 'RUNNING' | 'PAUSED' | 'CANCELLED',
    error: FlotillaError,
  ): void {
    if (!run.finished) {
      for (let i = 0; i < run.total; i++) {
        const s = run.taskState[i]
        if (s === S.RUNNING) {
          run.attemptsInFlight[i]?.controller?.abort(error)
          this.release(run, i, undefined)
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

  // ---- context sink -----------------------------------------------------
  log(runId: RunId, taskId: TaskId, level: LogLevel, message: string, data: unknown): void {
    const run = this.runs.get(runId)
    if (run)
      this.wal.stage(
        run,
        undefined,
        {
          type: 'task.log',
          at: this.o.clock.wallNow(),
          runId,
          taskId,
          level,
          message,
          ...(data === undefined ? {} : { data }),
        },
        undefined,
      )
  }

  emit(given: FlotillaEvent): void {
    const run = this.runs.get(given.runId)
    if (run === undefined) return
    const event = { ...given, at: this.o.clock.wallNow() }
    if (event.type === 'model.called') (run.modelCalls ??= []).push(event)
    this.wal.stage(run, undefined, event, undefined)
  }

  services(instanceId: AgentId, runId: RunId, taskId: TaskId): ServiceMembers | undefined {
    return this.o.services?.(instanceId, runId, taskId)
  }

  progress(runId: RunId, taskId: TaskId, attempt: number, fraction: number, note: string | undefined): void {
    const run = this.runs.get(runId)
    if (run)
      this.wal.stage(
        run,
        undefined,
        { type: 'task.progress', at: this.o.clock.wallNow(), runId, taskId: asTaskId(taskId), attempt, fraction, note },
        undefined,
      )
  }
}
