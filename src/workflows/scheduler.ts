import type { Clock } from '../core/clock.js'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { FlotillaEvent } from '../core/events.js'
import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type { Journal, ServiceMembers } from '../agents/service-members.js'
import type { AgentInstance } from '../registry/agent-instance.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { Registry } from '../registry/registry.js'
import type { Store } from '../store/store.js'
import type { InvokeNext } from './invoker.js'
import { Limits } from './limits.js'
import { ReadyQueue, type ReadyItem } from './ready-queue.js'
import type { RunEvents } from './run-events.js'
import { S, type AttemptHandle, type RunExecution } from './run-execution.js'
import { TaskContext } from './task-context.js'
import { prepareInput } from './task-io.js'
import type { Transitions } from './transitions.js'
import type { WriteAhead } from './write-ahead.js'

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
  /** The journal of an agent instance's tasks (`ctx.step`): the one service every step needs, without the others. */
  journal?: (instanceId: AgentId) => Journal | undefined
  /** The interceptor chain, composed once; `undefined` calls handlers directly. */
  invoke?: InvokeNext
  /** Runs created here are held under this lease (durable stores), so no other process takes them over while this one lives. */
  lease?: { holder: string; ms: number }
  /** Starts the span of a new run and gives its W3C `traceparent` (stored with the run); absent: runs are not traced. */
  traceRun?: (runId: RunId, workflow: string, parentRunId: RunId | undefined) => string | undefined
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
 * the graph. This part dispatches ready tasks, starts and invokes their
 * attempts and gives their slots back; {@link Transitions} acts on the
 * outcomes, {@link RunEvents} reports progress, and {@link Engine} holds the
 * parts and adds starting, recovering and controlling runs.
 */
export class Scheduler {
  readonly queue = new ReadyQueue<RunExecution>()
  /**
   * What the outcomes of the attempts started here do to their tasks and
   * runs; set once, right after construction, by the {@link Engine} that
   * holds both (each calls the other).
   */
  transitions!: Transitions
  private readonly limits: Limits
  private active = 0
  private pumping = false
  /** Clock reading of the latest attempt release (recent enough to throttle progress reports). */
  lastNow = 0
  /**
   * The last task context, kept alive on purpose: V8 keeps an object shape
   * (map) only while some object uses it, and discards the optimised
   * scheduler code built for it when a full GC collects the last one —
   * between two runs, say — so every run would start cold again.
   */
  private lastContext: TaskContext | undefined = undefined

  constructor(
    private readonly o: EngineOptions,
    private readonly wal: WriteAhead<RunExecution>,
    private readonly events: RunEvents,
  ) {
    this.limits = new Limits(o.capabilityConcurrency, (item) => this.queue.insert(item))
  }

  enqueue(run: RunExecution, index: number): void {
    run.setState(index, S.READY)
    this.queue.push(run, index, run.workflow.tasks[index].rank)
  }

  /** Ready attempts not started: in the ready queue, or parked until a slot or an instance frees up. */
  get queued(): number {
    return this.queue.size + this.limits.parkedCount
  }

  /** Ready attempts parked until an instance of one of these pools frees up (auto-scaling's signal). */
  waiting(pools: Iterable<AgentPool>): number {
    let n = 0
    for (const pool of pools) n += this.limits.parkedOn(pool)
    return n
  }

  /** Instances were added to these pools: wake their parked attempts (a chain, one per free slot). */
  capacityAdded(pools: Iterable<AgentPool>): void {
    for (const pool of pools) this.limits.wakeMore(pool)
    this.pump()
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
    if (task.anyOf && run.attempts[i] === 0 && !run.anyUpstreamSucceeded(i))
      return this.skip(run, i, 'no upstream task succeeded (dependencies: any)')
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
    this.skip(run, i, `condition "${task.spec.when}" is false`)
    return false
  }

  /** Task `i` will not run: SKIPPED (written ahead), counted as done. */
  private skip(run: RunExecution, i: number, reason: string): void {
    const task = run.workflow.tasks[i]
    run.setState(i, S.SKIPPED)
    const at = this.o.clock.wallNow()
    this.wal.stage(
      run,
      { op: 'task.finish', runId: run.id, taskId: task.id as TaskId, state: 'SKIPPED', at, reason },
      { type: 'task.skipped', at, runId: run.id, taskId: task.id as TaskId, reason },
      undefined,
    )
    this.transitions.taskDone(run, i)
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
      return this.transitions.onAttemptFailed(run, i, attempt, refusal!)
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
      return this.transitions.onAttemptFailed(run, i, attempt, e)
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
        this.transitions.onAttemptFailed(run, i, attempt, error)
      }, ms)
    }
    const ctx = new TaskContext(this.events, handle, run.id, task.id as TaskId, attempt, handle.instance.id)
    if (run.debug) ctx.debug = true
    this.lastContext = ctx
    let result: unknown
    try {
      const invoke = this.o.invoke
      result =
        invoke === undefined
          ? def.handler(input as never, ctx)
          : invoke({
              definition: def,
              input,
              context: ctx,
              runId: run.id,
              taskId: task.id as TaskId,
              attempt,
              traceParent: run.traceParent,
            })
    } catch (e) {
      return this.transitions.onAttemptFailed(run, i, attempt, e)
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      ;(result as PromiseLike<unknown>).then(
        (output) =>
          handle.late !== undefined
            ? this.settleLate(handle)
            : this.transitions.onAttemptSucceeded(run, i, attempt, output),
        (e: unknown) =>
          handle.late !== undefined ? this.settleLate(handle) : this.transitions.onAttemptFailed(run, i, attempt, e),
      )
    } else this.transitions.onAttemptSucceeded(run, i, attempt, result)
  }

  /** Frees the slots of an attempt; `ok` undefined means abandoned (cancelled). */
  release(run: RunExecution, i: number, ok: boolean | undefined): void {
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
}
