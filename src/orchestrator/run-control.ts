import type { Clock } from '../core/clock.js'
import type { ModelSpec } from '../models/providers.js'
import { FlotillaError } from '../core/errors.js'
import { asRunId, newRunId, type RunId, type TaskId } from '../core/ids.js'
import { isFinalRunState } from '../core/states.js'
import type { RunRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import type { Engine, RunDebug } from '../workflows/engine.js'
import { RunResult } from '../workflows/results.js'
import type { RunExecution } from '../workflows/run-execution.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { childTasks } from './client.js'
import type { EventHub } from './event-hub.js'
import { resolveRunInput } from './inputs.js'
import { CONTROL_POLL_MS, type RunLeases } from './leases.js'
import { planReplay, type ReplayOptions } from './replay.js'
import type { RunHandle, RunOptions } from './run-handle.js'
import { RunSummaries, summaryModelOf, summaryOptions } from './run-summary.js'
import type { Logger } from '../telemetry/telemetry.js'
import { cancelStoredChildren, controlStoredRun } from './stored-control.js'

/** What {@link RunControl} works on: the orchestrator's parts. */
export interface RunControlParts {
  readonly store: Store
  readonly engine: Engine
  readonly leases: RunLeases | undefined
  readonly hub: EventHub
  readonly clock: Clock
  /** The model that writes run summaries when a workflow asking for one names none. */
  readonly summaryModel: ModelSpec | undefined
  readonly logger: Logger
}

/**
 * The run control of an orchestrator over its store: recovery, replay,
 * pause, resume and cancel of runs executing here or only stored, and the
 * handles of runs. Composed into the Orchestrator, which documents the
 * public methods.
 */
export class RunControl {
  /** Writes the summaries of runs whose workflow asks for one (`summary`). */
  readonly summaries: RunSummaries

  constructor(private readonly p: RunControlParts) {
    this.summaries = new RunSummaries({
      store: p.store,
      clock: p.clock,
      model: p.summaryModel,
      logger: p.logger,
      deliver: (events) => p.hub.deliver(events),
    })
  }

  /** A stored run, or `RUN_NOT_FOUND`. */
  async getRun(runId: string): Promise<RunRecord> {
    const run = await this.p.store.getRun(asRunId(runId))
    if (!run) throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}".`, { details: { runId } })
    return run
  }

  /** See `Orchestrator.recover`. */
  async recover(
    options: { runIds?: readonly string[] } & Pick<RunOptions, 'onProgress' | 'onEvent'>,
  ): Promise<RunHandle[]> {
    const { engine, store, leases } = this.p
    let records: RunRecord[]
    if (leases !== undefined) {
      // Only runs nobody holds: a run executing in a live process is left to it.
      const named =
        options.runIds === undefined ? undefined : await Promise.all(options.runIds.map((id) => this.getRun(id)))
      for (const r of named ?? []) if (isFinalRunState(r.state)) throw finalRunError(r)
      const ids = await leases.claim(named?.filter((r) => engine.get(r.id) === undefined).map((r) => r.id))
      records = await Promise.all(ids.map((id) => this.getRun(id)))
    } else {
      records = options.runIds
        ? await Promise.all(options.runIds.map((id) => this.getRun(id)))
        : await store.listRuns({ state: ['PENDING', 'RUNNING', 'PAUSED'], limit: Number.MAX_SAFE_INTEGER })
    }
    const handles: RunHandle[] = []
    for (const record of records) {
      if (engine.get(record.id)) continue
      // A child run is taken over by its parent task when that runs again (it re-spawns the child's agents first).
      if (record.parentTaskId !== undefined && options.runIds === undefined) {
        leases?.release(record.id)
        continue
      }
      if (isFinalRunState(record.state)) throw finalRunError(record)
      const workflow = compileWorkflow(record.definition as WorkflowSpec)
      const tasks = await store.getTasks(record.id)
      const run = engine.recover({
        record,
        tasks,
        workflow,
        concurrency: workflow.concurrency,
        callbacks: { onProgress: options.onProgress },
        debug: await storedDebug(store, record.id),
      })
      handles.push(this.handle(run, options))
    }
    return handles
  }

  /** Checks, before a run starts, that a workflow asking for a summary has a model for it (`SUMMARY_MODEL_MISSING`). */
  checkSummary(wf: Workflow): void {
    summaryModelOf(wf.spec, this.p.summaryModel)
  }

  /** The input of a run to start, resolved against the workflow's declared inputs, once its summary model is checked. */
  prepare(wf: Workflow, input: unknown): unknown {
    this.checkSummary(wf)
    return resolveRunInput(wf, input)
  }

  /** Starts a child run, stored linked to its parent task, and returns its result. */
  startChild(
    wf: Workflow,
    input: unknown,
    ids: { runId: RunId; parentRunId?: RunId; parentTaskId?: TaskId },
  ): Promise<RunResult> {
    this.checkSummary(wf)
    const run = this.p.engine.start({
      ...ids,
      id: ids.runId,
      workflow: wf,
      input,
      concurrency: wf.concurrency,
      callbacks: {},
    })
    return this.handle(run, {}).result
  }

  /** The result of a stored, unfinished child run: awaited if it is live here, recovered here otherwise. */
  async resumeChild(id: RunId): Promise<RunResult> {
    const live = this.p.engine.get(id)
    const [handle] = live !== undefined ? [this.handle(live, {})] : await this.recover({ runIds: [id] })
    if (handle === undefined)
      throw new FlotillaError('RUN_STATE_INVALID', `Child run ${id} could not be taken over here.`, {
        details: { runId: id },
      })
    return handle.result
  }

  /** See `Orchestrator.replay`. */
  async replay(runId: string, replay: ReplayOptions, options: RunOptions): Promise<RunHandle> {
    const record = await this.getRun(runId)
    const children = await childTasks(this.p.store, record.id, replay.children)
    const from = [...new Set([...(replay.from ?? []), ...children])]
    const plan = planReplay(record, await this.p.store.getTasks(record.id), { ...replay, from })
    summaryModelOf(plan.workflow.spec, this.p.summaryModel)
    const id = options.runId !== undefined ? asRunId(options.runId) : newRunId()
    const input = resolveRunInput(plan.workflow, plan.input)
    const run = this.p.engine.start({
      id,
      workflow: plan.workflow,
      input,
      concurrency: options.concurrency ?? plan.workflow.concurrency,
      callbacks: { onProgress: options.onProgress },
      parentRunId: record.id,
      ...(options.actor === undefined ? {} : { actor: options.actor }),
      preset: plan.preset,
      debug: runDebug(options),
    })
    return this.handle(run, options)
  }

  /** The handle of a run executing here. */
  handle<O extends Record<string, unknown> = Record<string, unknown>>(
    run: RunExecution,
    options: Pick<RunOptions, 'onEvent'>,
  ): RunHandle<O> {
    const unsubscribe = options.onEvent ? this.p.hub.onRun(run.id, options.onEvent) : undefined
    const summarize = summaryOptions(run.workflow.spec) !== undefined
    const result = run.settled.then(async () => {
      const written = summarize && !run.stopped ? await this.summaries.write(run.id) : undefined
      unsubscribe?.()
      return new RunResult<O>(run, written)
    })
    const { engine, clock } = this.p
    return {
      id: run.id,
      result,
      pause: () => engine.pause(run),
      resume: () => engine.resume(run),
      cancel: (reason = 'cancelled by the user') => engine.cancel(run, reason),
      progress: () => run.progress(clock),
    }
  }

  /** See `Orchestrator.pause` and `Orchestrator.cancel`. */
  async control(runId: string, op: 'pause' | 'cancel', reason: string, actor?: string): Promise<void> {
    const { engine } = this.p
    const live = engine.get(asRunId(runId))
    if (live) return op === 'pause' ? engine.pause(live, actor) : engine.cancel(live, reason, actor)
    const record = await this.getRun(runId)
    await controlStoredRun(this.p.store, record, op, this.p.clock, reason, actor)
    // Its child runs execute elsewhere too (on workers, or in the process that holds it): cancelled in the store.
    if (op === 'cancel') await cancelStoredChildren(this.p.store, record.id, reason, this.p.clock, actor)
  }

  /** See `Orchestrator.resume`. */
  async resume(
    runId: string,
    recover: (runIds: readonly string[]) => Promise<RunHandle[]>,
    actor?: string,
  ): Promise<RunHandle> {
    const live = this.p.engine.get(asRunId(runId))
    if (live) {
      this.p.engine.resume(live, actor)
      return this.handle(live, {})
    }
    const record = await this.getRun(runId)
    if (record.state !== 'PAUSED') {
      throw new FlotillaError(
        'RUN_STATE_INVALID',
        `Cannot resume run ${runId}: it is ${record.state}${record.state === 'RUNNING' ? ' (use recover to pick up a run whose process stopped)' : ''}.`,
        { details: { runId, state: record.state } },
      )
    }
    // A process that was executing the run lets go of it within CONTROL_POLL_MS of seeing the pause.
    for (let tries = 0; ; tries++) {
      try {
        const [handle] = await recover([runId])
        const recovered = this.p.engine.get(asRunId(runId))
        if (recovered !== undefined) this.p.engine.resume(recovered, actor)
        else handle.resume()
        return handle
      } catch (e) {
        if (
          tries >= 6 ||
          !(e instanceof FlotillaError) ||
          e.code !== 'RUN_STATE_INVALID' ||
          e.details.holder === undefined
        )
          throw e
        await new Promise((r) => setTimeout(r, CONTROL_POLL_MS / 2))
      }
    }
  }
}

/** The debug options of a run to start. */
export function runDebug(options: Pick<RunOptions, 'debug' | 'breakOnError'>): RunDebug {
  return { debug: options.debug === true, breakOnError: options.breakOnError === true }
}

/** The debug options a stored run was started with, as its `run.started` event recorded them. */
export async function storedDebug(store: Store, runId: RunId): Promise<RunDebug> {
  const [first] = await store.listEvents(runId, { limit: 1 })
  const e = first?.event
  return e?.type === 'run.started' ? { debug: e.debug === true, breakOnError: e.breakOnError === true } : {}
}

/** RUN_STATE_INVALID for recovering a run that already ended. */
function finalRunError(record: RunRecord): FlotillaError {
  return new FlotillaError(
    'RUN_STATE_INVALID',
    `Run ${record.id} is ${record.state}; only unfinished runs can be recovered (replay it to run it again).`,
    { details: { runId: record.id, state: record.state } },
  )
}
