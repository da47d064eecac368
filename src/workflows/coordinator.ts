import type { Clock } from '../core/clock.js'
import { deserializeError, FlotillaError, toFlotillaError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId, TaskId } from '../core/ids.js'
import { isFinalRunState } from '../core/states.js'
import type { QueueDone, TaskQueue, WorkerRecord } from '../store/queue.js'
import type { RunRecord, StoreOp, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { compileWorkflow, type Workflow } from './compile.js'
import { S } from './run-execution.js'
import { holdRun, leaveGroup, settleable, type Held } from './held-run.js'
import { OfferStaging } from './offer-staging.js'
import { FinalWrites } from './final-writes.js'
import type { WorkflowSpec } from './spec.js'
import { afterFailure } from './task-io.js'
import { breakAt, cancelUnfinished, storedBreakOnError } from './coordinator-ops.js'

/** Options of a {@link Coordinator}. */
export interface CoordinatorOptions {
  store: Store
  queue: TaskQueue
  clock: Clock
  random: () => number
  /** This worker's id: the holder of the runs it coordinates. */
  id: string
  /** Delivers events written here to local listeners. */
  deliver?: (events: readonly RunEvent[]) => void
  /** The live workers of the catalog (to pin versions and to say when nobody can run a task). */
  catalog: () => readonly WorkerRecord[]
  /**
   * Told of each run that ended here (SUCCEEDED or FAILED) once its final
   * state is stored and delivered, with the definition it ran: what needs
   * the workflow of a finished run (its `summary` option) reads no store.
   */
  ended?: (runId: RunId, spec: Readonly<WorkflowSpec>) => void
}

/**
 * The coordinator of the runs a worker holds: it owns each run's graph
 * (in-degree counters, conditions, retries and fallbacks, the run's
 * concurrency and groups), offers ready attempts to the task queue with a
 * not-before time, reads the results executors stored, and finishes the run.
 * Everything it decides is written to the store first, so a coordinator that
 * dies loses nothing: another takes the run over after its lease and rebuilds
 * the graph from the stored tasks.
 */
export class Coordinator {
  private readonly held = new Map<RunId, Held>()
  /** Offers staged for the queue, written by {@link Coordinator.flush}. */
  private readonly offers: OfferStaging
  /** Final writes of runs that ended, committed together by {@link Coordinator.flush}. */
  private readonly finals: FinalWrites

  constructor(private readonly o: CoordinatorOptions) {
    this.offers = new OfferStaging({ clock: o.clock, catalog: o.catalog, commit: (events) => this.commit([], events) })
    this.finals = new FinalWrites({ ...o, commitRun: (ops, events, runId) => this.commit(ops, events, runId) })
  }

  /** Ids of the runs held here. */
  runIds(): RunId[] {
    return [...this.held.keys()]
  }

  /** How many runs are held here. */
  get size(): number {
    return this.held.size
  }

  /**
   * Attempts of the runs held here that are ready and not finished: offered
   * to the queue and not yet answered (waiting there, or running on some
   * worker), or held back by a run's concurrency limit or group.
   */
  get backlog(): number {
    let n = 0
    for (const h of this.held.values()) n += h.inFlight + h.parked.length
    return n
  }

  /** Takes over a run whose lease this worker just claimed: rebuilds its graph from the store and offers what is ready. */
  async adopt(record: RunRecord, tasks: readonly TaskRecord[]): Promise<void> {
    if (this.held.has(record.id) || isFinalRunState(record.state)) return
    let workflow: Workflow
    try {
      workflow = compileWorkflow(record.definition as WorkflowSpec)
    } catch (e) {
      const spec = record.definition as WorkflowSpec
      return this.finals.stage(record.id, spec, [], 'FAILED', toFlotillaError(e, 'WORKFLOW_INVALID'))
    }
    const breakOnError = await storedBreakOnError(this.o.store, record.id)
    const h = holdRun(record, tasks, workflow, this.o.clock, breakOnError)
    this.held.set(record.id, h)
    const run = h.run
    const failed = run.errors.findIndex(
      (e, i) => e !== undefined && run.taskState[i] === S.FAILED && !workflow.tasks[i].continueOnFailure,
    )
    if (failed >= 0) return this.finish(h, 'FAILED', run.errors[failed])
    if (run.done === run.total) return this.finish(h, 'SUCCEEDED', undefined)
    await this.dispatchReady(h)
  }

  /** Applies results the executors stored (from {@link TaskQueue.takeResults}). */
  async onResults(results: readonly QueueDone[]): Promise<void> {
    for (const r of results) {
      const h = this.held.get(r.runId)
      if (h === undefined || h.run.finished) continue
      const i = h.run.workflow.indexOf.get(r.taskId)
      if (i === undefined) continue
      // A success needs no read: the queue stored it fenced with the task, and
      // outputs are read only when a condition needs them. A failure reads its error.
      if (r.ok) await this.succeeded(h, i, r.attempt)
      else {
        const record = await this.o.store.getTask(r.runId, r.taskId)
        if (record?.state === 'RETRYING' && settleable(h, i)) {
          h.inFlight--
          leaveGroup(h, i)
          await this.failed(h, i, record)
        }
      }
    }
    await this.flush()
  }

  /** The run's stored state changed elsewhere (renewal told us): cancelled or final runs are let go. */
  observe(runId: RunId, state: RunRecord['state']): void {
    const h = this.held.get(runId)
    if (h === undefined) return
    if (isFinalRunState(state)) this.drop(runId)
    else h.run.state = state
  }

  /**
   * Forgets every run held here and everything staged and not yet written,
   * returning the ids of those runs (their leases are still this worker's).
   * After a store call failed, what is in memory may differ from what the
   * store holds (an offer not written, results taken whose reply was lost, a
   * final state not committed): the caller lets go of the leases, and the
   * runs are adopted again from the store, which is the truth.
   */
  reset(): RunId[] {
    const ids = new Set<RunId>([...this.held.keys(), ...this.finals.runIds()])
    for (const h of this.held.values()) h.run.stopped = true
    this.held.clear()
    this.offers.clear()
    this.finals.clear()
    return [...ids]
  }

  /** Lets go of a run without writing anything (lease lost, or it ended elsewhere). */
  drop(runId: RunId): void {
    const h = this.held.get(runId)
    if (h === undefined) return
    h.run.stopped = true
    this.held.delete(runId)
  }

  /** Writes what was staged since the last flush: the final states of runs that ended (one batch), then the offers (one call). */
  async flush(): Promise<void> {
    if (!this.finals.empty) await this.finals.flush()
    if (!this.offers.empty) await this.o.queue.offer(this.offers.take())
  }

  private async succeeded(h: Held, i: number, attempt: number): Promise<void> {
    if (!settleable(h, i)) return
    const run = h.run
    h.inFlight--
    run.attempts[i] = attempt
    run.outputs[i] = undefined
    run.errors[i] = undefined
    run.setState(i, S.SUCCEEDED)
    leaveGroup(h, i)
    await this.taskDone(h, i)
  }

  private async failed(h: Held, i: number, record: TaskRecord): Promise<void> {
    const run = h.run
    const task = run.workflow.tasks[i]
    const taskId = task.id as TaskId
    const error =
      record.error !== undefined
        ? deserializeError(record.error)
        : new FlotillaError('TASK_FAILED', `Task "${task.id}" failed.`)
    run.attempts[i] = record.attempt
    run.errors[i] = error
    const tries = record.attempt - h.fallbackFrom[i]
    const next = afterFailure(task, tries, run.usingFallback[i] === 1, error, this.o.random)
    const at = this.o.clock.wallNow()
    const json = error.toJSON()
    if (next !== undefined) {
      if (next.toFallback) {
        run.usingFallback[i] = 1
        h.fallbackFrom[i] = record.attempt
      }
      run.setState(i, S.RETRYING)
      await this.commit(
        [],
        [
          {
            type: 'task.retrying',
            at,
            runId: run.id,
            taskId,
            attempt: record.attempt,
            delayMs: next.delayMs,
            error: json,
          },
        ],
      )
      this.offers.stage(h, i, at + next.delayMs)
      return
    }
    // PAUSED too: a retry after a resume can fail before this worker saw the resume (it learns it at the lease's renewal).
    if (h.breakOnError && !task.continueOnFailure && (run.state === 'RUNNING' || run.state === 'PAUSED')) {
      const { ops, events } = breakAt(run, i, record.attempt, json, at)
      if (await this.commit(ops, events, run.id)) this.offers.stage(h, i, at)
      return
    }
    run.setState(i, S.FAILED)
    const tolerated = task.continueOnFailure
    const ok = await this.commit(
      [{ op: 'task.fail', runId: run.id, taskId, attempt: record.attempt, error: json, at, final: true, settle: true }],
      [{ type: 'task.failed', at, runId: run.id, taskId, attempt: record.attempt, error: json, tolerated }],
      run.id,
    )
    if (!ok) return
    if (tolerated) await this.taskDone(h, i)
    else
      await this.finish(
        h,
        'FAILED',
        new FlotillaError(error.code, `Task "${task.id}" failed: ${error.message}`, {
          details: { ...error.details, taskId: task.id },
          cause: error,
        }),
      )
  }

  private async taskDone(h: Held, i: number): Promise<void> {
    const run = h.run
    run.done++
    const dependents = run.workflow.tasks[i].dependents
    for (let k = 0; k < dependents.length; k++) {
      const j = dependents[k]
      if (run.releases(i, j)) await this.ready(h, j)
    }
    if (run.done === run.total) return this.finish(h, 'SUCCEEDED', undefined)
    await this.unpark(h)
  }

  /** Offers every PENDING task whose dependencies are done (after adopting a run). */
  private async dispatchReady(h: Held): Promise<void> {
    const run = h.run
    for (let i = 0; i < run.total; i++) {
      if (run.finished) return
      const s = run.taskState[i]
      if ((s === S.PENDING || s === S.READY || s === S.RETRYING) && run.released(i)) await this.ready(h, i)
      else if (s === S.RUNNING) h.inFlight++
    }
  }

  private async ready(h: Held, i: number): Promise<void> {
    const run = h.run
    if (run.finished) return
    const task = run.workflow.tasks[i]
    if ((task.anyOf || task.condition !== undefined) && run.attempts[i] === 0 && !(await this.mayRun(h, i))) return
    if (
      h.inFlight >= run.concurrency ||
      (task.group !== undefined && (h.groups.get(task.group.name) ?? 0) >= task.group.max)
    ) {
      run.setState(i, S.READY)
      h.parked.push(i)
      return
    }
    this.offers.stage(h, i, 0)
  }

  private async unpark(h: Held): Promise<void> {
    const parked = h.parked
    h.parked = []
    for (const i of parked) await this.ready(h, i)
  }

  /** Whether task `i` runs (`dependencies: any` met, condition true); if not, it is SKIPPED (written first). */
  private async mayRun(h: Held, i: number): Promise<boolean> {
    const run = h.run
    const task = run.workflow.tasks[i]
    let reason = 'no upstream task succeeded (dependencies: any)'
    if (!task.anyOf || run.anyUpstreamSucceeded(i)) {
      if (task.condition === undefined) return true
      for (const d of task.deps) {
        if (run.taskState[d] === S.SUCCEEDED && run.outputs[d] === undefined)
          run.outputs[d] = (await this.o.store.getTask(run.id, run.workflow.tasks[d].id as TaskId))?.output
      }
      try {
        if (task.condition(run)) return true
      } catch (e) {
        run.errors[i] = toFlotillaError(e, 'WORKFLOW_BAD_REFERENCE')
      }
      reason = `condition "${task.spec.when}" is false`
    }
    run.setState(i, S.SKIPPED)
    const at = this.o.clock.wallNow()
    const taskId = task.id as TaskId
    const ops: StoreOp[] = [{ op: 'task.finish', runId: run.id, taskId, state: 'SKIPPED', at, reason }]
    if (await this.commit(ops, [{ type: 'task.skipped', at, runId: run.id, taskId, reason }], run.id))
      await this.taskDone(h, i)
    return false
  }

  private async finish(h: Held, state: 'SUCCEEDED' | 'FAILED', error: FlotillaError | undefined): Promise<void> {
    const run = h.run
    if (run.finished) return
    run.state = state
    const ops = cancelUnfinished(run, this.o.clock.wallNow())
    this.held.delete(run.id)
    await this.finals.stage(run.id, run.workflow.spec, ops, state, error, h.startedAt)
  }

  /** Commits; a STORE_CONFLICT (the run was paused, cancelled or taken elsewhere) lets go of that run only. */
  private async commit(ops: StoreOp[], events: RunEvent[], runId?: RunId): Promise<boolean> {
    try {
      await this.o.store.commit({ ops, events })
    } catch (e) {
      const err = toFlotillaError(e)
      if (err.code !== 'STORE_CONFLICT' || runId === undefined) throw err
      this.drop(runId)
      return false
    }
    this.o.deliver?.(events)
    return true
  }
}
