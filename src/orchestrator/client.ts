import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { asRunId, newRunId, type RunId } from '../core/ids.js'
import { maxSatisfying } from '../registry/semver-range.js'
import { openStoreAsync } from '../store/open-store.js'
import type { TaskQueue, WorkerRecord } from '../store/queue.js'
import type { RunFilter, RunRecord, StoredEvent, TailOptions, TailPage, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { newRunRecord, newTaskRecords } from '../workflows/task-io.js'
import { resolveRunInput } from './inputs.js'
import { planReplay, type ReplayOptions } from './replay.js'
import { cancelStoredChildren, controlStoredRun } from './stored-control.js'
import { awaitStoredRun, storeNewRun } from './stored-runs.js'
import { RunTracing } from './run-tracing.js'
import type { Tracer } from '../telemetry/telemetry.js'

/** A task no live worker can run, as {@link Client.unserved} reports it. */
export interface UnservedTask {
  taskId: string
  /** What it needs: `agent "x" (^1.2.0)` or `capability "y"`. */
  needs: string
}

/**
 * Starts, controls and queries runs through a shared store, holding no
 * agents: workers ({@link Worker}) pick the runs up. It is what an HTTP
 * server or a script that only submits work uses.
 *
 * @example
 * ```ts
 * const client = await Client.connect('postgres://postgres@127.0.0.1:5432/app')
 * const runId = await client.start(wf, { topic: 'flotilla' })
 * const run = await client.result(runId, { timeoutMs: 60_000 })
 * console.log(run.state)
 * ```
 */
export class Client {
  private constructor(
    readonly store: Store,
    private readonly queue: TaskQueue,
    readonly clock: Clock,
    private readonly owned: boolean,
    private readonly tracing: RunTracing | undefined = undefined,
  ) {}

  /** Opens a client on a store (a Store, or a spec: `postgres://…`, a SQLite file). */
  static async connect(store?: Store | string, options: { clock?: Clock; tracer?: Tracer } = {}): Promise<Client> {
    const opened = await openStoreAsync(store)
    if (opened.queue === undefined)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The ${opened.kind} store has no task queue; clients need the memory, SQLite or PostgreSQL store.`,
      )
    const clock = options.clock ?? systemClock
    const tracing = options.tracer === undefined ? undefined : new RunTracing(options.tracer)
    tracing?.watch(opened)
    return new Client(opened, opened.queue(clock), clock, typeof store !== 'object', tracing)
  }

  /**
   * Stores a new run for workers to take (it is not executed here). The
   * workflow is validated first; nothing is stored when it does not. A task
   * whose agent no live worker offers does not stop the run: it waits (a
   * `run.waiting` event) until such a worker starts — see {@link Client.unserved}.
   */
  async start(
    workflow: Workflow | WorkflowSpec,
    input?: unknown,
    options: { runId?: string; actor?: string; debug?: boolean; breakOnError?: boolean } = {},
  ): Promise<RunId> {
    const wf = 'hash' in workflow ? workflow : compileWorkflow(workflow)
    const runInput = resolveRunInput(wf, input)
    const id = options.runId !== undefined ? asRunId(options.runId) : newRunId()
    const traceParent = this.traceRun(id, wf.name)
    await this.traced(id, () =>
      storeNewRun(this.store, this.clock, wf, {
        runId: id,
        input: runInput,
        traceParent,
        actor: options.actor,
        debug: options.debug,
        breakOnError: options.breakOnError,
      }),
    )
    await this.queue.notify()
    return id
  }

  /** The tasks of a workflow that no live worker of the catalog can run now (empty: every task is served). */
  async unserved(workflow: Workflow | WorkflowSpec): Promise<UnservedTask[]> {
    const wf = 'hash' in workflow ? workflow : compileWorkflow(workflow)
    const workers = await this.workers()
    const agents = workers.flatMap((w) => w.agents)
    const out: UnservedTask[] = []
    for (const t of wf.tasks) {
      const s = t.selector
      if ('capability' in s) {
        if (!agents.some((a) => a.capabilities.includes(s.capability)))
          out.push({ taskId: t.id, needs: `capability "${s.capability}"` })
      } else if (
        !agents.some(
          (a) => a.name === s.agent && (s.version === undefined || maxSatisfying([a.version], s.version) !== undefined),
        )
      ) {
        out.push({ taskId: t.id, needs: `agent "${s.agent}"${s.version === undefined ? '' : ` (${s.version})`}` })
      }
    }
    return out
  }

  /** Live workers (a heartbeat within the last `withinMs`, default 45 s). */
  workers(withinMs = 45_000): Promise<WorkerRecord[]> {
    return this.queue.listWorkers(this.clock.wallNow() - withinMs)
  }

  /**
   * Stores a new run from a stored one for workers to take, keeping the
   * results of every task not named in `from`, not changed by `set` and not
   * downstream of one of those (see `Orchestrator.replay`). The new run
   * records the one it came from (`parentRunId`).
   */
  async replay(
    runId: string,
    replay: ReplayOptions = {},
    options: { runId?: string; actor?: string } = {},
  ): Promise<RunId> {
    const record = await this.getRun(runId)
    // `children: 'rerun'`: the tasks that planned child runs run again (as in `Orchestrator.replay`).
    const children =
      replay.children === 'rerun'
        ? (await this.store.listRuns({ parentRunId: record.id, limit: Number.MAX_SAFE_INTEGER }))
            .map((r) => r.parentTaskId)
            .filter((t): t is NonNullable<typeof t> => t !== undefined)
        : []
    const from = [...new Set([...(replay.from ?? []), ...children])]
    const plan = planReplay(record, await this.store.getTasks(record.id), { ...replay, from })
    const id = options.runId !== undefined ? asRunId(options.runId) : newRunId()
    const input = resolveRunInput(plan.workflow, plan.input)
    const tasks = newTaskRecords(id, plan.workflow)
    for (const p of plan.preset)
      tasks[plan.workflow.indexOf.get(p.taskId)!] = { ...p, runId: id, idempotencyKey: `${id}:${p.taskId}` }
    const now = this.clock.wallNow()
    const traceParent = this.traceRun(id, plan.workflow.name)
    await this.commitTraced(id, {
      ops: [
        {
          op: 'run.create',
          run: newRunRecord(id, plan.workflow, input, now, { parentRunId: record.id, traceParent }),
          tasks,
        },
      ],
      events: [
        {
          type: 'run.started',
          at: now,
          runId: id,
          workflow: plan.workflow.name,
          tasks: plan.workflow.tasks.length,
          parentRunId: record.id,
          ...(options.actor === undefined ? {} : { actor: options.actor }),
        },
      ],
    })
    await this.queue.notify()
    return id
  }

  /** Waits until the run is final and returns its record; `TASK_TIMEOUT` after `timeoutMs`. */
  async result(runId: string, options: { timeoutMs?: number; pollMs?: number } = {}): Promise<RunRecord> {
    return awaitStoredRun(this.store, this.queue, (await this.getRun(runId)).id, options)
  }

  /** Pauses a run wherever it executes: no attempt of it starts any more; running ones finish. `actor`: who asked (in the event). */
  async pause(runId: string, options: { actor?: string } = {}): Promise<void> {
    await controlStoredRun(this.store, await this.getRun(runId), 'pause', this.clock, undefined, options.actor)
  }

  /** Resumes a paused run: its worker (or any, if its worker is gone) goes on with it. */
  async resume(runId: string, options: { actor?: string } = {}): Promise<void> {
    const run = await this.getRun(runId)
    if (run.state !== 'PAUSED')
      throw new FlotillaError('RUN_STATE_INVALID', `Cannot resume run ${runId}: it is ${run.state}.`, {
        details: { runId, state: run.state },
      })
    const at = this.clock.wallNow()
    await this.store.commit({
      ops: [{ op: 'run.state', runId: run.id, state: 'RUNNING', at }],
      events: [
        { type: 'run.resumed', at, runId: run.id, ...(options.actor === undefined ? {} : { actor: options.actor }) },
      ],
    })
    await this.queue.notify()
  }

  /**
   * Cancels a run wherever it executes: its running handlers are aborted
   * through their signal at the next heartbeat. Its unfinished child runs
   * (plans of its tasks) are cancelled with it.
   */
  async cancel(runId: string, reason = 'cancelled by the user', options: { actor?: string } = {}): Promise<void> {
    const run = await this.getRun(runId)
    await controlStoredRun(this.store, run, 'cancel', this.clock, reason, options.actor)
    await cancelStoredChildren(this.store, run.id, reason, this.clock, options.actor)
  }

  /** A stored run, or `RUN_NOT_FOUND`. */
  async getRun(runId: string): Promise<RunRecord> {
    const run = await this.store.getRun(asRunId(runId))
    if (run === undefined) throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}".`, { details: { runId } })
    return run
  }

  /** Stored runs, newest first. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]> {
    return this.store.listRuns(filter)
  }

  /** Stored tasks of a run. */
  getTasks(runId: string): Promise<TaskRecord[]> {
    return this.store.getTasks(asRunId(runId))
  }

  /** Stored events of a run. */
  listEvents(runId: string, options?: { afterSeq?: number; limit?: number }): Promise<StoredEvent[]> {
    return this.store.listEvents(asRunId(runId), options)
  }

  /**
   * Events of every run (or of `options.runId`) in commit order, after the
   * position `options.after`: pass each page's `next` to the next call to see
   * every event exactly once (see {@link Store.tailEvents}).
   *
   * @example
   * ```ts
   * const page = await client.tailEvents({ after: lastSeen, limit: 100 })
   * lastSeen = page.next
   * ```
   */
  tailEvents(options?: TailOptions): Promise<TailPage> {
    return this.store.tailEvents(options)
  }

  /** Closes the store if this client opened it; the spans of runs not finished yet end here. */
  async close(): Promise<void> {
    this.tracing?.close()
    if (this.owned) await this.store.close()
  }

  /**
   * With a tracer: starts the run's span (its `traceparent` is stored with
   * the run, so the attempts workers run are its children) and ends it when
   * the run is final (a watch through the queue's notifications).
   */
  private traceRun(id: RunId, workflow: string): string | undefined {
    return this.tracing?.startRun(id, workflow)
  }

  /** Commits a new run, then watches its span. */
  private commitTraced(id: RunId, batch: Parameters<Store['commit']>[0]): Promise<void> {
    return this.traced(id, () => this.store.commit(batch))
  }

  /** Stores a new run (`store`), then watches its span. */
  private async traced(id: RunId, store: () => Promise<void>): Promise<void> {
    try {
      await store()
    } catch (e) {
      this.watchTrace(id, false)
      throw e
    }
    this.watchTrace(id, true)
  }

  /** Ends the run's span when the run is final (or at once when it was not stored). */
  private watchTrace(id: RunId, stored: boolean): void {
    const tracing = this.tracing
    if (tracing === undefined) return
    if (!stored) return tracing.endRun(id, undefined)
    void this.result(id).then(
      (run) => tracing.endRun(id, run.state as 'SUCCEEDED' | 'FAILED' | 'CANCELLED', run.error?.message),
      () => tracing.endRun(id, undefined),
    )
  }
}

/** The tasks of `runId` that ran child runs, run again with `children: 'rerun'` (none with `keep`). */
export async function childTasks(
  store: Store,
  runId: RunId,
  children: 'keep' | 'rerun' | undefined,
): Promise<string[]> {
  if (children !== 'rerun') return []
  return (await store.listRuns({ parentRunId: runId, limit: Number.MAX_SAFE_INTEGER }))
    .map((r) => r.parentTaskId as string | undefined)
    .filter((t): t is string => t !== undefined)
}
