import { FlotillaError, type SerializedError } from '../core/errors.js'
import { noSpend, spendOf, type ModelSpend } from '../core/model-spend.js'
import type { GeneratedSummary } from '../store/records.js'
import type { RunId } from '../core/ids.js'
import type { RunState, TaskState } from '../core/states.js'
import type { Workflow } from './compile.js'
import { S, type RunExecution } from './run-execution.js'

/** The record of one task of a finished run. */
export interface TaskResult {
  id: string
  state: TaskState
  /** Attempts started, fallback included; an attempt whose start was never stored does not count. */
  attempts: number
  /** `name@version` of the agent of the last attempt. */
  agent: string | undefined
  /** Duration of the last attempt in ms; 0 when it never started here, never longer than the run. */
  durationMs: number
  output: unknown
  error: SerializedError | undefined
}

/** One agent's share of a run. */
export interface AgentContribution {
  /** Tasks whose last counted attempt ran on this agent. */
  tasks: number
  succeeded: number
  failed: number
  /** Time the last attempt of each of its tasks took, summed, in ms. */
  busyMs: number
  /** `busyMs` over all agents' `busyMs`. */
  share: number
  /** What its model calls used and cost (language-model agents). */
  model?: ModelSpend
}

/** Tasks of a run by final state. */
export interface RunCounts {
  succeeded: number
  failed: number
  skipped: number
  cancelled: number
}

/** Aggregate figures of a run. Every figure is bounded by what happened: no duration is longer than the run. */
export interface RunSummary {
  /**
   * Succeeded tasks over the tasks that were to run (every task but skipped
   * ones): failed, cancelled and unfinished tasks count as not succeeded, so
   * a run that did not succeed never shows 1 unless all of them succeeded.
   * For a run that ended normally this is the rate over its finished tasks.
   * 1 when every task was skipped.
   */
  successRate: number
  /** The tasks `successRate` is computed over (`succeeded + failed + cancelled + unfinished`). */
  rateOver: number
  /**
   * Tasks left without a final state: a run stopped in this process (a store
   * conflict, a closed orchestrator) leaves them for recovery. 0 for a run
   * that ended normally.
   */
  unfinished: number
  /** Wall time of the run in this process, in whole ms (every duration of the summary is rounded to whole ms). */
  durationMs: number
  counts: RunCounts
  perAgent: Record<string, AgentContribution>
  /** The chain of tasks whose durations add up to the longest path (never longer than `durationMs`). */
  criticalPath: { tasks: string[]; durationMs: number }
  /** Task time summed over all tasks (last attempt of each), in ms; at most `durationMs × peakConcurrency`. */
  busyMs: number
  /** `busyMs` over (wall time × peak concurrency): 1 means no slot was ever idle. */
  parallelEfficiency: number
  /** `busyMs` over wall time: how many tasks ran at once on average. */
  speedup: number
  /** Most attempts of the run running at once. */
  peakConcurrency: number
  /** What the run's model calls used and cost, when language-model agents ran (calls seen by this process). */
  model?: ModelSpend
}

/**
 * The outcome of a run. Per-task records and the summary are computed on
 * first access, so a caller that reads only one output pays only for that.
 *
 * @example
 * ```ts
 * const result = await orchestrator.run(wf)
 * if (result.ok) console.log(result.output('report'))
 * else console.error(result.error?.message)
 * ```
 */
export class RunResult<Outputs extends Record<string, unknown> = Record<string, unknown>> {
  readonly runId: RunId
  readonly workflow: string
  readonly state: RunState
  /** Why the run failed or was cancelled. */
  readonly error: FlotillaError | undefined
  private _tasks: Record<string, TaskResult> | undefined
  private _summary: RunSummary | undefined

  /**
   * @param writtenSummary The summary a model wrote of the run when it ended (the
   * workflow's `summary` option), if one was written.
   */
  constructor(
    private readonly run: RunExecution,
    readonly writtenSummary?: GeneratedSummary,
  ) {
    this.runId = run.id
    this.workflow = run.workflow.name
    this.state = run.state
    this.error = run.error
  }

  /** True when the run SUCCEEDED. */
  get ok(): boolean {
    return this.state === 'SUCCEEDED'
  }

  /**
   * Output of one task (undefined if it did not succeed); `VALIDATION_FAILED`
   * for an unknown id. Typed from the agent's output schema when the
   * workflow was built in TypeScript with agent definitions.
   */
  output<K extends keyof Outputs & string>(taskId: K): Outputs[K] | undefined {
    const i = this.run.workflow.indexOf.get(taskId)
    if (i === undefined)
      throw new FlotillaError('VALIDATION_FAILED', `Workflow "${this.workflow}" has no task "${taskId}".`, {
        details: { taskId },
      })
    return this.run.outputs[i] as Outputs[K] | undefined
  }

  /**
   * This result typed by the workflow it ran, when the caller holds a
   * result typed only as `RunResult` (`VALIDATION_FAILED` if `workflow` is
   * not the one that ran: another definition hash).
   *
   * @example
   * ```ts
   * const wf = workflow('w').task('greet', { agent: greeter }).build()
   * const text = (await orchestrator.run(wf)).of(wf).output('greet') // typed from greeter's output schema
   * ```
   */
  of<O extends Record<string, unknown>>(workflow: Workflow<O>): RunResult<O> {
    if (workflow.hash !== this.run.workflow.hash) {
      const ran = `"${this.workflow}" (hash ${this.run.workflow.hash.slice(0, 12)}…)`
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Run ${this.runId} ran workflow ${ran}, not "${workflow.name}" (hash ${workflow.hash.slice(0, 12)}…).`,
        {
          details: { runId: this.runId, workflow: workflow.name },
        },
      )
    }
    return this as unknown as RunResult<O>
  }

  /** Outputs of every succeeded task, by task id. */
  get outputs(): Partial<Outputs> {
    const out: Record<string, unknown> = {}
    const tasks = this.run.workflow.tasks
    for (let i = 0; i < tasks.length; i++)
      if (this.run.taskState[i] === S.SUCCEEDED) out[tasks[i].id] = this.run.outputs[i]
    return out as Partial<Outputs>
  }

  /**
   * The run's answer: outputs of the succeeded tasks the workflow names in
   * `outputs`, else of those no other task depends on, by task id.
   *
   * @example
   * ```ts
   * const { report } = (await orchestrator.run(wf)).finalOutputs
   * ```
   */
  get finalOutputs(): Partial<Outputs> {
    const out: Record<string, unknown> = {}
    const { tasks, finals } = this.run.workflow
    for (const i of finals) if (this.run.taskState[i] === S.SUCCEEDED) out[tasks[i].id] = this.run.outputs[i]
    return out as Partial<Outputs>
  }

  /** Per-task records, by task id. */
  get tasks(): Record<string, TaskResult> {
    if (this._tasks) return this._tasks
    const r = this.run
    const wallMs = wallTime(r)
    const out: Record<string, TaskResult> = {}
    r.workflow.tasks.forEach((t, i) => {
      out[t.id] = {
        id: t.id,
        state: r.stateName(i),
        attempts: countedAttempts(r, i),
        agent: countedAttempts(r, i) === 0 ? undefined : r.agentOf[i],
        durationMs: countedDuration(r, i, wallMs),
        output: r.outputs[i],
        error: r.errors[i]?.toJSON(),
      }
    })
    return (this._tasks = out)
  }

  /** Aggregate figures: success rate, per-agent contribution, critical path, parallel efficiency. */
  get summary(): RunSummary {
    return (this._summary ??= withSummarySpend(summarize(this.run), this.writtenSummary))
  }

  /** A JSON-safe view (for `--json` and HTTP). */
  toJSON(): {
    runId: RunId
    workflow: string
    state: RunState
    error: SerializedError | undefined
    summary: RunSummary
    tasks: Record<string, TaskResult>
    writtenSummary?: GeneratedSummary
  } {
    return {
      runId: this.runId,
      workflow: this.workflow,
      state: this.state,
      error: this.error?.toJSON(),
      summary: this.summary,
      tasks: this.tasks,
      ...(this.writtenSummary === undefined ? {} : { writtenSummary: this.writtenSummary }),
    }
  }
}

/** The run's figures with the spend of its written summary counted in its model spend. */
function withSummarySpend(s: RunSummary, written: GeneratedSummary | undefined): RunSummary {
  if (written === undefined) return s
  const model = s.model === undefined ? noSpend() : { ...s.model }
  for (const k of Object.keys(model) as (keyof ModelSpend)[]) model[k] += written.spend[k]
  return { ...s, model }
}

/** Wall time of the run in this process, in whole ms. */
function wallTime(r: RunExecution): number {
  return Math.max(0, Math.round((r.endMono || r.startMono) - r.startMono))
}

/** True when task `i`'s last attempt started in this process (its start time belongs to this run). */
function startedHere(r: RunExecution, i: number): boolean {
  return r.startedAt[i] >= r.startMono
}

/**
 * Duration of task `i`'s last attempt as far as it can be trusted: 0 when
 * the attempt never started in this process (its start was staged but not
 * stored before the run stopped, or the task was restored from the store),
 * and never longer than the run; rounded to whole ms.
 */
function countedDuration(r: RunExecution, i: number, wallMs: number): number {
  if (!startedHere(r, i)) return 0
  const d = r.durationMs[i]
  return Number.isFinite(d) && d > 0 ? Math.min(Math.round(d), wallMs) : 0
}

/** Attempts of task `i` to report: an attempt left RUNNING that never started (its start was not stored) does not count. */
function countedAttempts(r: RunExecution, i: number): number {
  return r.taskState[i] === S.RUNNING && r.attempts[i] > 0 && !startedHere(r, i) ? r.attempts[i] - 1 : r.attempts[i]
}

function summarize(r: RunExecution): RunSummary {
  const wf = r.workflow
  const n = wf.tasks.length
  const wallMs = wallTime(r)
  const counts: RunCounts = {
    succeeded: r.counts[S.SUCCEEDED],
    failed: r.counts[S.FAILED],
    skipped: r.counts[S.SKIPPED],
    cancelled: r.counts[S.CANCELLED],
  }
  const unfinished = n - counts.succeeded - counts.failed - counts.skipped - counts.cancelled
  const durations = new Float64Array(n)
  const perAgent: Record<string, AgentContribution> = {}
  let busy = 0
  for (let i = 0; i < n; i++) {
    const agent = r.agentOf[i]
    if (agent === undefined || countedAttempts(r, i) === 0) continue
    durations[i] = countedDuration(r, i, wallMs)
    const a = (perAgent[agent] ??= { tasks: 0, succeeded: 0, failed: 0, busyMs: 0, share: 0 })
    a.tasks++
    if (r.taskState[i] === S.SUCCEEDED) a.succeeded++
    if (r.taskState[i] === S.FAILED) a.failed++
    a.busyMs += durations[i]
    busy += durations[i]
  }
  // Busy time cannot exceed the slots the run had; a stale start time could
  // make it (an attempt interrupted between its start and its handler).
  const peak = Math.max(1, r.peakActive)
  if (busy > wallMs * peak) {
    const k = busy > 0 ? (wallMs * peak) / busy : 0
    for (const a of Object.values(perAgent)) a.busyMs = Math.floor(a.busyMs * k)
    for (let i = 0; i < n; i++) durations[i] = Math.floor(durations[i] * k)
    busy = wallMs * peak
  }
  for (const a of Object.values(perAgent)) a.share = busy > 0 ? a.busyMs / busy : 0
  const spend = r.modelCalls === undefined ? undefined : spendOf(r.modelCalls)
  // Contributions are keyed name@version, model calls by the agent's name.
  if (spend !== undefined)
    for (const [key, a] of Object.entries(perAgent)) {
      const s = spend.perAgent[key.slice(0, key.lastIndexOf('@'))]
      if (s !== undefined) a.model = s
    }
  // Longest path by observed durations, over a topological order.
  // Ties (whole-ms durations are often 0) go to the path with more tasks.
  const best = new Float64Array(n)
  const steps = new Int32Array(n)
  const prev = new Int32Array(n).fill(-1)
  const longer = (a: number, b: number): boolean => best[a] > best[b] || (best[a] === best[b] && steps[a] > steps[b])
  let end = -1
  for (let h = 0; h < n; h++) {
    const i = wf.order[h]
    const deps = wf.tasks[i].deps
    for (let k = 0; k < deps.length; k++) if (prev[i] === -1 || longer(deps[k], prev[i])) prev[i] = deps[k]
    best[i] = (prev[i] === -1 ? 0 : best[prev[i]]) + durations[i]
    steps[i] = (prev[i] === -1 ? 0 : steps[prev[i]]) + 1
    if (end === -1 || longer(i, end)) end = i
  }
  const path: string[] = []
  for (let i = end; i !== -1; i = prev[i]) path.push(wf.tasks[i].id)
  path.reverse()
  const rateOver = n - counts.skipped
  return {
    successRate: rateOver === 0 ? 1 : counts.succeeded / rateOver,
    rateOver,
    unfinished,
    durationMs: wallMs,
    counts,
    perAgent,
    criticalPath: { tasks: path, durationMs: end === -1 ? 0 : Math.min(best[end], wallMs) },
    busyMs: busy,
    parallelEfficiency: wallMs > 0 && r.peakActive > 0 ? Math.min(1, busy / (wallMs * r.peakActive)) : 1,
    speedup: wallMs > 0 ? busy / wallMs : 1,
    peakConcurrency: r.peakActive,
    ...(spend === undefined ? {} : { model: spend.total }),
  }
}
