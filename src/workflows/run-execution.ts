import type { Clock, TimerHandle } from '../core/clock.js'
import type { ModelCallReport } from '../core/events.js'
import { taskSpendAfter, type ModelSpend } from '../core/model-spend.js'
import { deserializeError, type FlotillaError } from '../core/errors.js'
import type { RunProgress } from '../core/events.js'
import type { RunId } from '../core/ids.js'
import { TASK_STATES, type RunState, type TaskState } from '../core/states.js'
import type { AgentInstance } from '../registry/agent-instance.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { StoreOp, TaskRecord } from '../store/records.js'
import type { Workflow } from './compile.js'
import type { ValueSource } from './refs.js'
import { Fifo } from './fifo.js'
import type { ReadyItem } from './ready-queue.js'

/** Task states as small integers (indices into TASK_STATES). */
export const S = {
  PENDING: 0,
  READY: 1,
  RUNNING: 2,
  RETRYING: 3,
  SUCCEEDED: 4,
  FAILED: 5,
  SKIPPED: 6,
  CANCELLED: 7,
} as const

/** The cancellable part of a running attempt. */
export interface AttemptHandle {
  controller: AbortController | undefined
  readonly instance: AgentInstance
  readonly pool: AgentPool
  timer: TimerHandle | undefined
  /** Set when the attempt timed out while its handler still runs: its slots are freed only when the handler settles. */
  lingering?: boolean
  /** Frees the slots of a timed-out attempt once its handler settles. */
  late?: () => void
}

/** Callbacks a run reports to. */
export interface RunCallbacks {
  onProgress?: (progress: RunProgress) => void
}

/**
 * The in-memory state of one run while it executes: typed arrays indexed by
 * task, counters by state, and nothing that is rebuilt per step.
 */
export class RunExecution implements ValueSource {
  state: RunState = 'PENDING'
  /** The W3C `traceparent` of the run's span, when traced (stored with the run). */
  traceParent: string | undefined = undefined
  readonly remaining: Int32Array
  readonly taskState: Uint8Array
  /** Attempts started, all agents together (the stored attempt number). */
  readonly attempts: Int32Array
  /** Attempts on the current agent (primary or fallback), for the retry policy. */
  readonly tries: Int32Array
  readonly usingFallback: Uint8Array
  readonly outputs: unknown[]
  readonly errors: (FlotillaError | undefined)[]
  readonly startedAt: Float64Array
  readonly durationMs: Float64Array
  readonly agentOf: (string | undefined)[]
  readonly attemptsInFlight: (AttemptHandle | undefined)[]
  readonly retryTimers = new Map<number, TimerHandle>()
  readonly counts = new Int32Array(TASK_STATES.length)
  /** Items popped while paused, or over the run's concurrency limit. */
  pausedItems: ReadyItem<RunExecution>[] = []
  readonly limitParked = new Fifo<ReadyItem<RunExecution>>()
  /** Concurrency groups of this run (tasks with `group`): executions in flight and tasks waiting. */
  readonly groups = new Map<string, { active: number; readonly parked: Fifo<ReadyItem<RunExecution>> }>()
  active = 0
  done = 0
  peakActive = 0
  /** Debug mode (full traces) and break on error, as the run was started with. */
  debug = false
  breakOnError = false
  /** The `model.called` events of the run seen here (language-model agents), for the summary. */
  modelCalls: ModelCallReport[] | undefined
  /** Per task: the model spend its record holds (restored, or staged here); made on the first model call. */
  taskModel: (ModelSpend | undefined)[] | undefined
  /** Per task: the model calls of its current attempt, not yet staged with a result. */
  attemptCalls: (ModelCallReport[] | undefined)[] | undefined
  busyMs = 0
  startMono = 0
  endMono = 0
  ended = false
  lastProgressAt = -Infinity
  error: FlotillaError | undefined
  readonly settled: Promise<void>
  settle!: () => void
  /** Pools per task (primary agent), resolved when the run starts. */
  pools: readonly AgentPool[] = []
  /** Lets go of the run's pins on its pools (a version retired by hot reload drains until its runs end). */
  unpinPools: () => void = noop

  constructor(
    readonly id: RunId,
    readonly workflow: Workflow,
    readonly input: unknown,
    readonly concurrency: number,
    readonly callbacks: RunCallbacks,
  ) {
    const n = workflow.tasks.length
    this.remaining = workflow.inDegree.slice()
    this.taskState = new Uint8Array(n)
    this.attempts = new Int32Array(n)
    this.tries = new Int32Array(n)
    this.usingFallback = new Uint8Array(n)
    this.outputs = new Array(n)
    this.errors = new Array(n)
    this.startedAt = new Float64Array(n)
    this.durationMs = new Float64Array(n)
    this.agentOf = new Array(n)
    this.attemptsInFlight = new Array(n)
    this.counts[S.PENDING] = n
    this.settled = new Promise<void>((resolve) => (this.settle = resolve))
  }

  /**
   * Restores tasks from stored records (recovery, replay): final tasks keep
   * their state and output and count as done; unfinished ones go back to
   * PENDING keeping their attempt number, so the next attempt is attempt + 1.
   * Then recomputes every in-degree from the tasks still to finish.
   */
  restore(records: readonly TaskRecord[]): void {
    const wf = this.workflow
    for (const rec of records) {
      const i = wf.indexOf.get(rec.taskId)
      if (i === undefined) continue
      this.attempts[i] = rec.attempt
      this.agentOf[i] = rec.agent
      if (rec.model !== undefined) (this.taskModel ??= new Array(this.total))[i] = rec.model
      switch (rec.state) {
        case 'SUCCEEDED':
          this.outputs[i] = rec.output
          this.setState(i, S.SUCCEEDED)
          break
        case 'FAILED':
        case 'SKIPPED':
        case 'CANCELLED':
          this.setState(i, S[rec.state])
          if (rec.error) this.errors[i] = deserializeError(rec.error)
          break
        default:
          // An attempt interrupted by a crash did not fail; a RETRYING one did.
          this.tries[i] = rec.state === 'RETRYING' ? rec.attempt : Math.max(0, rec.attempt - 1)
      }
    }
    this.remaining.set(wf.inDegree)
    this.done = 0
    for (let i = 0; i < this.total; i++) {
      if (this.taskState[i] < S.SUCCEEDED) continue
      this.done++
      const dependents = wf.tasks[i].dependents
      for (let k = 0; k < dependents.length; k++) this.remaining[dependents[k]]--
    }
  }

  /**
   * True when the item's concurrency group has room; otherwise parks the item
   * (woken by {@link RunExecution.leaveGroup}) and returns false.
   */
  groupHasRoom(group: { readonly name: string; readonly max: number }, item: ReadyItem<RunExecution>): boolean {
    let g = this.groups.get(group.name)
    if (g === undefined) this.groups.set(group.name, (g = { active: 0, parked: new Fifo() }))
    if (g.active < group.max) return true
    g.parked.push(item)
    return false
  }

  /** Counts an attempt of the group as running (right after {@link RunExecution.groupHasRoom} said yes). */
  enterGroup(group: { readonly name: string }): void {
    this.groups.get(group.name)!.active++
  }

  /** An attempt of the group ended; returns the parked item to wake, if any. */
  leaveGroup(group: { readonly name: string }): ReadyItem<RunExecution> | undefined {
    const g = this.groups.get(group.name)!
    g.active--
    return g.parked.shift()
  }

  /** Counts a model call of task `index` (of its current attempt) toward the spend stored with its result. */
  addModelCall(index: number, attempt: number, call: ModelCallReport): void {
    if (attempt !== this.attempts[index]) return
    ;((this.attemptCalls ??= new Array(this.total))[index] ??= []).push(call)
  }

  /** The spend to store with the result of task `index`'s current attempt (`undefined`: keep the stored one). */
  takeModel(index: number): ModelSpend | undefined {
    const calls = this.attemptCalls?.[index]
    if (calls === undefined) return undefined
    this.attemptCalls![index] = undefined
    const spend = taskSpendAfter(this.taskModel?.[index], calls)
    ;(this.taskModel ??= new Array(this.total))[index] = spend
    return spend
  }

  /**
   * True when task `index` may become ready: every upstream task is done, or
   * (`dependencies: any`) one of them has succeeded.
   */
  released(index: number): boolean {
    if (this.remaining[index] === 0) return true
    const task = this.workflow.tasks[index]
    return task.anyOf && this.anyUpstreamSucceeded(index)
  }

  /**
   * Task `done` reached a final state: counts it for its dependent `j`. True
   * when that releases `j`: its last upstream task is done, or (`dependencies:
   * any`) this is its first upstream success; later ones are ignored.
   */
  releases(done: number, j: number): boolean {
    const last = --this.remaining[j] === 0
    return (
      (last || (this.workflow.tasks[j].anyOf && this.taskState[done] === S.SUCCEEDED)) &&
      this.taskState[j] === S.PENDING
    )
  }

  /** True when an upstream task of task `index` has succeeded. */
  anyUpstreamSucceeded(index: number): boolean {
    const deps = this.workflow.tasks[index].deps
    for (let k = 0; k < deps.length; k++) if (this.taskState[deps[k]] === S.SUCCEEDED) return true
    return false
  }

  /** Output of task `index` if it succeeded, else `undefined` (for references). */
  output(index: number): unknown {
    return this.outputs[index]
  }

  get total(): number {
    return this.taskState.length
  }

  /** Set when the run was stopped in this process without a final state being stored (store failure, close). */
  stopped = false

  /** True once the run reached a final state here, or was stopped locally. */
  get finished(): boolean {
    return this.stopped || this.state === 'SUCCEEDED' || this.state === 'FAILED' || this.state === 'CANCELLED'
  }

  /**
   * Takes back, in memory, what a refused batch would have stored for this
   * run, so that its result says what the store says: a task whose result was
   * refused is RUNNING again (its start was stored) or PENDING (its start was
   * refused too), without output; a refused final state of the run is taken
   * back. Returns the tasks whose start was refused (RUNNING here until their
   * handlers are stopped; then PENDING, as in the store).
   */
  unstage(refused: readonly StoreOp[]): number[] {
    const notStarted: number[] = []
    for (const op of refused) {
      if (op.op === 'task.start' && op.runId === this.id) {
        const i = this.workflow.indexOf.get(op.taskId)
        if (i !== undefined) notStarted.push(i)
      }
    }
    for (const op of refused) {
      if (op.op === 'run.create' || op.runId !== this.id) continue
      if (op.op === 'run.state') {
        if (op.state === 'SUCCEEDED' || op.state === 'FAILED' || op.state === 'CANCELLED') this.state = 'RUNNING'
        continue
      }
      if (op.op === 'task.start' || op.op === 'run.summary') continue
      const i = this.workflow.indexOf.get(op.taskId)
      if (i === undefined) continue
      if (op.op === 'task.succeed') this.outputs[i] = undefined
      if (op.op === 'task.fail') this.errors[i] = undefined
      this.setState(i, this.attempts[i] > 0 && !notStarted.includes(i) ? S.RUNNING : S.PENDING)
    }
    return notStarted
  }

  setState(index: number, s: number): void {
    this.counts[this.taskState[index]]--
    this.counts[s]++
    this.taskState[index] = s
  }

  stateName(index: number): TaskState {
    return TASK_STATES[this.taskState[index]]
  }

  /** Progress now: counts, percentage and an ETA from the observed task durations. */
  progress(clock: Clock): RunProgress {
    const counts = {} as Record<TaskState, number>
    TASK_STATES.forEach((s, i) => (counts[s] = this.counts[i]))
    const now = this.ended ? this.endMono : clock.now()
    const elapsedMs = now - this.startMono
    const left = this.total - this.done
    let etaMs: number | undefined
    const finishedWork = this.counts[S.SUCCEEDED] + this.counts[S.FAILED]
    if (left === 0) etaMs = 0
    else if (finishedWork > 0 && elapsedMs > 0) {
      const meanTaskMs = this.busyMs / finishedWork
      const parallelism = Math.max(1, this.busyMs / elapsedMs)
      etaMs = Math.round((left * meanTaskMs) / parallelism)
    }
    return {
      total: this.total,
      done: this.done,
      percent: this.total === 0 ? 100 : Math.round((this.done / this.total) * 1000) / 10,
      counts,
      elapsedMs: Math.round(elapsedMs),
      etaMs,
    }
  }
}

function noop(): void {}
