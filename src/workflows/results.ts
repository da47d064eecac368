import { FlotillaError, type SerializedError } from '../core/errors.js'
import type { RunId } from '../core/ids.js'
import type { RunState, TaskState } from '../core/states.js'
import { S, type RunExecution } from './run-execution.js'

/** The record of one task of a finished run. */
export interface TaskResult {
  id: string
  state: TaskState
  /** Attempts started, fallback included. */
  attempts: number
  /** `name@version` of the agent of the last attempt. */
  agent: string | undefined
  /** Duration of the last attempt in ms. */
  durationMs: number
  output: unknown
  error: SerializedError | undefined
}

/** One agent's share of a run. */
export interface AgentContribution {
  tasks: number
  succeeded: number
  failed: number
  /** Time its attempts took, summed, in ms. */
  busyMs: number
  /** `busyMs` over all agents' `busyMs`. */
  share: number
}

/** Aggregate figures of a run. */
export interface RunSummary {
  /** Succeeded over tasks that ran (succeeded + failed); 1 when none ran. */
  successRate: number
  durationMs: number
  counts: Record<'succeeded' | 'failed' | 'skipped' | 'cancelled', number>
  perAgent: Record<string, AgentContribution>
  /** The chain of tasks whose durations add up to the longest path. */
  criticalPath: { tasks: string[]; durationMs: number }
  /** Summed task time over (wall time × peak concurrency): 1 means no slot was ever idle. */
  parallelEfficiency: number
  /** Summed task time over wall time. */
  speedup: number
  peakConcurrency: number
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
export class RunResult {
  readonly runId: RunId
  readonly workflow: string
  readonly state: RunState
  /** Why the run failed or was cancelled. */
  readonly error: FlotillaError | undefined
  private _tasks: Record<string, TaskResult> | undefined
  private _summary: RunSummary | undefined

  constructor(private readonly run: RunExecution) {
    this.runId = run.id
    this.workflow = run.workflow.name
    this.state = run.state
    this.error = run.error
  }

  /** True when the run SUCCEEDED. */
  get ok(): boolean {
    return this.state === 'SUCCEEDED'
  }

  /** Output of one task (undefined if it did not succeed); `TASK_NOT_FOUND`-style error for an unknown id. */
  output(taskId: string): unknown {
    const i = this.run.workflow.indexOf.get(taskId)
    if (i === undefined) throw new FlotillaError('VALIDATION_FAILED', `Workflow "${this.workflow}" has no task "${taskId}".`, { details: { taskId } })
    return this.run.outputs[i]
  }

  /** Outputs of every succeeded task, by task id. */
  get outputs(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    const tasks = this.run.workflow.tasks
    for (let i = 0; i < tasks.length; i++) if (this.run.taskState[i] === S.SUCCEEDED) out[tasks[i].id] = this.run.outputs[i]
    return out
  }

  /** Per-task records, by task id. */
  get tasks(): Record<string, TaskResult> {
    if (this._tasks) return this._tasks
    const r = this.run
    const out: Record<string, TaskResult> = {}
    r.workflow.tasks.forEach((t, i) => {
      out[t.id] = {
        id: t.id,
        state: r.stateName(i),
        attempts: r.attempts[i],
        agent: r.agentOf[i],
        durationMs: r.durationMs[i],
        output: r.outputs[i],
        error: r.errors[i]?.toJSON(),
      }
    })
    return (this._tasks = out)
  }

  /** Aggregate figures: success rate, per-agent contribution, critical path, parallel efficiency. */
  get summary(): RunSummary {
    return (this._summary ??= summarize(this.run))
  }

  /** A JSON-safe view (for `--json` and HTTP). */
  toJSON(): { runId: RunId; workflow: string; state: RunState; error: SerializedError | undefined; summary: RunSummary; tasks: Record<string, TaskResult> } {
    return { runId: this.runId, workflow: this.workflow, state: this.state, error: this.error?.toJSON(), summary: this.summary, tasks: this.tasks }
  }
}

function summarize(r: RunExecution): RunSummary {
  const wf = r.workflow
  const n = wf.tasks.length
  const counts = { succeeded: r.counts[S.SUCCEEDED], failed: r.counts[S.FAILED], skipped: r.counts[S.SKIPPED], cancelled: r.counts[S.CANCELLED] }
  const perAgent: Record<string, AgentContribution> = {}
  let busy = 0
  for (let i = 0; i < n; i++) {
    const agent = r.agentOf[i]
    if (agent === undefined) continue
    const a = (perAgent[agent] ??= { tasks: 0, succeeded: 0, failed: 0, busyMs: 0, share: 0 })
    a.tasks++
    if (r.taskState[i] === S.SUCCEEDED) a.succeeded++
    if (r.taskState[i] === S.FAILED) a.failed++
    a.busyMs += r.durationMs[i]
    busy += r.durationMs[i]
  }
  for (const a of Object.values(perAgent)) a.share = busy > 0 ? a.busyMs / busy : 0
  // Longest path by observed durations, over a topological order.
  const best = new Float64Array(n)
  const prev = new Int32Array(n).fill(-1)
  let end = -1
  for (let h = 0; h < n; h++) {
    const i = wf.order[h]
    const deps = wf.tasks[i].deps
    let from = 0
    for (let k = 0; k < deps.length; k++) {
      if (best[deps[k]] >= from) {
        from = best[deps[k]]
        prev[i] = deps[k]
      }
    }
    best[i] = from + r.durationMs[i]
    if (end === -1 || best[i] > best[end]) end = i
  }
  const path: string[] = []
  for (let i = end; i !== -1; i = prev[i]) path.push(wf.tasks[i].id)
  path.reverse()
  const durationMs = (r.endMono || r.startMono) - r.startMono
  const ran = counts.succeeded + counts.failed
  return {
    successRate: ran === 0 ? 1 : counts.succeeded / ran,
    durationMs,
    counts,
    perAgent,
    criticalPath: { tasks: path, durationMs: end === -1 ? 0 : best[end] },
    parallelEfficiency: durationMs > 0 && r.peakActive > 0 ? Math.min(1, busy / (durationMs * r.peakActive)) : 1,
    speedup: durationMs > 0 ? busy / durationMs : 1,
    peakConcurrency: r.peakActive,
  }
}
