import { FlotillaError } from '../core/errors.js'
import type { RunId, TaskId } from '../core/ids.js'
import { pinPools, type AgentPool } from '../registry/agent-pool.js'
import type { RunRecord, StoreOp, TaskRecord } from '../store/records.js'
import type { Workflow } from './compile.js'
import { RunEvents } from './run-events.js'
import { RunExecution, S, type RunCallbacks } from './run-execution.js'
import { Scheduler, type EngineOptions } from './scheduler.js'
import { newRunRecord, newTaskRecords, resolvePools } from './task-io.js'
import { Transitions } from './transitions.js'
import { WriteAhead } from './write-ahead.js'

export type { EngineOptions } from './scheduler.js'

/** What starting a run needs. */
export interface StartRequest {
  id: RunId
  workflow: Workflow
  input: unknown
  concurrency: number
  callbacks: RunCallbacks
  parentRunId?: RunId
  /** For a child run: the task of `parentRunId` whose plan it runs. */
  parentTaskId?: TaskId
  /** Who started it (`run.started`'s `actor`). */
  actor?: string
  /** Tasks that start already SUCCEEDED, with their outputs (replay). */
  preset?: readonly TaskRecord[]
  /** The W3C `traceparent` of the run's span, stored with the run. */
  traceParent?: string
  /** Debug mode and break on error (written in `run.started`). */
  debug?: RunDebug
}

/** How a run is debugged: full traces, and pausing at a task about to fail for good. */
export interface RunDebug {
  debug?: boolean
  breakOnError?: boolean
}

/** What resuming a stored run needs. */
export interface RecoverRequest {
  record: RunRecord
  tasks: readonly TaskRecord[]
  workflow: Workflow
  concurrency: number
  callbacks: RunCallbacks
  /** As `run.started` recorded it. */
  debug?: RunDebug
}

/**
 * The engine: starting, recovering, pausing, resuming and cancelling runs.
 * It holds the parts of the scheduler, which share its write-ahead log and
 * its map of live runs: the {@link Scheduler} (ready queue, dispatch, slots),
 * its {@link Transitions} (what attempt outcomes do to tasks and runs) and
 * the {@link RunEvents} (task contexts' events, progress reports).
 */
export class Engine {
  private readonly runs = new Map<RunId, RunExecution>()
  private readonly wal: WriteAhead<RunExecution>
  private readonly scheduler: Scheduler
  private readonly transitions: Transitions
  private readonly poolCache = new WeakMap<Workflow, { generation: number; pools: AgentPool[] }>()

  constructor(private readonly o: EngineOptions) {
    this.wal = new WriteAhead<RunExecution>(
      o.store,
      o.deliver,
      () => this.scheduler.pump(),
      (e, runs, refused) => this.transitions.onStoreFailure(e, runs, refused),
    )
    const events = new RunEvents(o, this.wal, this.runs)
    this.scheduler = new Scheduler(o, this.wal, events)
    this.transitions = new Transitions(o, this.wal, this.runs, this.scheduler, events)
    this.scheduler.transitions = this.transitions
  }

  /** Ready attempts not started yet (the queue depth `flotilla.worker.queue.depth` reports). */
  get queued(): number {
    return this.scheduler.queued
  }

  /** Ready attempts waiting for a free instance of one of these pools. */
  waiting(pools: Iterable<AgentPool>): number {
    return this.scheduler.waiting(pools)
  }

  /** Instances were added to these pools: their waiting attempts may start now. */
  capacityAdded(pools: Iterable<AgentPool>): void {
    this.scheduler.capacityAdded(pools)
  }

  /**
   * Lets go of every run without storing anything more: handlers are
   * aborted, and each run stays stored as it was (unfinished), to be
   * recovered by another orchestrator. Waits for the batch being written.
   */
  async detachAll(reason: string): Promise<void> {
    await this.wal.drain()
    for (const run of [...this.runs.values()]) {
      this.transitions.stopLocally(
        run,
        'RUNNING',
        new FlotillaError(
          'RUN_INTERRUPTED',
          `Run ${run.id} was left unfinished in the store: ${reason}. Recover it with flotilla recover (or orchestrator.recover()).`,
          { details: { runId: run.id } },
        ),
      )
    }
  }

  /** Lets go of one run without storing anything more (its lease went to another process). */
  detach(run: RunExecution, reason: string): void {
    this.transitions.stopLocally(
      run,
      'RUNNING',
      new FlotillaError('RUN_INTERRUPTED', `Run ${run.id} stopped here: ${reason}.`, { details: { runId: run.id } }),
    )
  }

  /**
   * Another process paused or cancelled the run in the store: stop it here
   * without writing anything more (see {@link Transitions.controlledElsewhere}).
   */
  controlledElsewhere(run: RunExecution, state: 'PAUSED' | 'CANCELLED'): void {
    this.transitions.controlledElsewhere(run, state)
  }

  /** Every run this engine is executing. */
  liveRuns(): RunExecution[] {
    return [...this.runs.values()]
  }

  /** Runs being executed by this engine. */
  get(runId: RunId): RunExecution | undefined {
    return this.runs.get(runId)
  }

  /** Resolves the agent pool of every task; throws `WORKFLOW_UNKNOWN_AGENT` naming the task. */
  poolsFor(workflow: Workflow): AgentPool[] {
    const generation = this.o.registry.generation
    const cached = this.poolCache.get(workflow)
    if (cached !== undefined && cached.generation === generation) return cached.pools
    const pools = resolvePools(this.o.registry, workflow)
    this.poolCache.set(workflow, { generation, pools })
    return pools
  }

  /** Creates the run (stored first), then schedules its ready tasks. `preset` tasks (replay) start SUCCEEDED. */
  start(req: StartRequest): RunExecution {
    if (this.runs.has(req.id))
      throw new FlotillaError('STORE_CONFLICT', `Run "${req.id}" is already running; give the new run another id.`, {
        details: { runId: req.id },
      })
    const run = this.track(req.id, req.workflow, req.input, req.concurrency, req.callbacks)
    setDebug(run, req.debug)
    const now = this.o.clock.wallNow()
    const wf = req.workflow
    const tasks = newTaskRecords(req.id, wf)
    if (req.preset !== undefined && req.preset.length > 0) {
      for (const p of req.preset)
        tasks[wf.indexOf.get(p.taskId)!] = { ...p, runId: req.id, idempotencyKey: `${req.id}:${p.taskId}` }
      run.restore(tasks)
    }
    run.state = 'RUNNING'
    run.traceParent = req.traceParent ?? this.o.traceRun?.(req.id, req.workflow.name, req.parentRunId)
    const lease = this.o.lease
    const create: StoreOp = {
      op: 'run.create',
      run: newRunRecord(req.id, wf, req.input, now, {
        parentRunId: req.parentRunId,
        parentTaskId: req.parentTaskId,
        traceParent: run.traceParent,
      }),
      tasks,
      ...(lease ? { holder: lease.holder, leaseUntil: now + lease.ms } : {}),
    }
    this.wal.stage(
      run,
      create,
      {
        type: 'run.started',
        at: now,
        runId: req.id,
        workflow: wf.name,
        tasks: wf.tasks.length,
        ...(req.parentRunId ? { parentRunId: req.parentRunId } : {}),
        ...(req.parentTaskId ? { parentTaskId: req.parentTaskId } : {}),
        ...(req.actor === undefined ? {} : { actor: req.actor }),
        ...(run.debug ? { debug: true as const } : {}),
        ...(run.breakOnError ? { breakOnError: true as const } : {}),
      },
      req.preset === undefined
        ? () => {
            const roots = wf.roots
            for (let i = 0; i < roots.length; i++) this.scheduler.enqueue(run, roots[i])
          }
        : () => this.launch(run),
    )
    return run
  }

  /**
   * Resumes a stored, unfinished run: stored results are kept and never
   * recomputed; tasks that were running start again with attempt + 1 and
   * the same idempotency key; a paused run stays paused.
   */
  recover(req: RecoverRequest): RunExecution {
    if (this.runs.has(req.record.id))
      throw new FlotillaError('RUN_STATE_INVALID', `Run "${req.record.id}" is already running in this process.`, {
        details: { runId: req.record.id },
      })
    const run = this.track(req.record.id, req.workflow, req.record.input, req.concurrency, req.callbacks)
    run.restore(req.tasks)
    setDebug(run, req.debug)
    run.state = req.record.state === 'PAUSED' ? 'PAUSED' : 'RUNNING'
    run.traceParent = req.record.traceParent
    const at = this.o.clock.wallNow()
    this.wal.stage(run, undefined, { type: 'run.recovered', at, runId: run.id, done: run.done, tasks: run.total }, () =>
      this.launch(run),
    )
    return run
  }

  private track(id: RunId, wf: Workflow, input: unknown, concurrency: number, callbacks: RunCallbacks): RunExecution {
    const run = new RunExecution(id, wf, input, concurrency, callbacks)
    run.pools = this.poolsFor(wf)
    run.unpinPools = pinPools(run.pools)
    run.startMono = this.o.clock.now()
    this.runs.set(id, run)
    return run
  }

  /** Enqueues every unfinished task whose dependencies are done, or finishes a run that has nothing left. */
  private launch(run: RunExecution): void {
    const failed = run.errors.findIndex(
      (e, i) => e !== undefined && run.taskState[i] === S.FAILED && !run.workflow.tasks[i].continueOnFailure,
    )
    if (failed >= 0) return this.transitions.finishRun(run, 'FAILED', run.errors[failed])
    if (run.done === run.total) return this.transitions.finishRun(run, 'SUCCEEDED', undefined)
    for (let i = 0; i < run.total; i++)
      if (run.taskState[i] === S.PENDING && run.released(i)) this.scheduler.enqueue(run, i)
  }

  /** Stops dispatching new tasks of the run; running ones finish. */
  pause(run: RunExecution, actor?: string): void {
    this.toggle(run, 'RUNNING', 'PAUSED', undefined, actor)
  }

  /** Lets a paused run dispatch again. */
  resume(run: RunExecution, actor?: string): void {
    this.toggle(
      run,
      'PAUSED',
      'RUNNING',
      () => {
        for (const item of run.pausedItems.splice(0)) this.scheduler.queue.insert(item)
      },
      actor,
    )
  }

  private toggle(
    run: RunExecution,
    from: 'RUNNING' | 'PAUSED',
    to: 'RUNNING' | 'PAUSED',
    after: (() => void) | undefined,
    actor: string | undefined,
  ): void {
    if (run.state !== from) throw stateError(run, to === 'PAUSED' ? 'pause' : 'resume')
    run.state = to
    const at = this.o.clock.wallNow()
    this.wal.stage(
      run,
      { op: 'run.state', runId: run.id, state: to, at },
      {
        type: to === 'PAUSED' ? 'run.paused' : 'run.resumed',
        at,
        runId: run.id,
        ...(actor === undefined ? {} : { actor }),
      },
      after,
    )
  }

  /** Cancels the run: running handlers are aborted through their signal. */
  cancel(run: RunExecution, reason: string, actor?: string): void {
    if (run.finished) throw stateError(run, 'cancel')
    this.transitions.finishRun(
      run,
      'CANCELLED',
      new FlotillaError('TASK_CANCELLED', `Run cancelled: ${reason}`, { details: { reason } }),
      actor,
    )
  }
}

function setDebug(run: RunExecution, debug: RunDebug | undefined): void {
  run.debug = debug?.debug === true
  run.breakOnError = debug?.breakOnError === true
}

/** The RUN_STATE_INVALID error for an operation a run in its current state does not allow. */
function stateError(run: RunExecution, action: string): FlotillaError {
  return new FlotillaError('RUN_STATE_INVALID', `Cannot ${action} run ${run.id}: it is ${run.state}.`, {
    details: { runId: run.id, state: run.state },
  })
}
