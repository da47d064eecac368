import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { RunRecord, TaskRecord } from '../store/records.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import { parseCondition } from '../workflows/condition.js'
import { collectRefs } from '../workflows/refs.js'
import type { TaskSpec, WorkflowSpec } from '../workflows/spec.js'

/** Changes to one task for a replay: every task field except its id. */
export type TaskOverride = Partial<Omit<TaskSpec, 'id'>>

/** What to keep and what to change when replaying a run. */
export interface ReplayOptions {
  /** Re-run these tasks and everything downstream of them; keep the stored results of the rest. @default [] (keep every stored result) */
  from?: readonly string[]
  /** Per-task changes (agent, input, retry, …); a changed task and its downstream re-run. */
  set?: Readonly<Record<string, TaskOverride>>
  /** Replaces the run's input; every task that reads the input re-runs (and its downstream). */
  input?: unknown
  /**
   * Tasks that ran child runs (a plan, or agents spawned from templates):
   * `keep` their stored outputs (the child runs' results), or `rerun` them,
   * so that they plan and run new child runs under the new run.
   * @default "keep"
   */
  children?: 'keep' | 'rerun'
}

/** A planned replay: the workflow to run and the tasks whose stored results it keeps. */
export interface ReplayPlan {
  workflow: Workflow
  input: unknown
  preset: TaskRecord[]
  rerun: string[]
}

/**
 * Plans a replay of a stored run: applies the changes to the pinned
 * definition, and keeps the SUCCEEDED results of every task that is neither
 * named in `from`, nor changed, nor downstream of one of those.
 */
export function planReplay(record: RunRecord, tasks: readonly TaskRecord[], options: ReplayOptions): ReplayPlan {
  const spec = record.definition as WorkflowSpec
  const known = new Set(spec.tasks.map((t) => t.id))
  const unknown = (id: string, where: string): FlotillaError =>
    new FlotillaError(
      'VALIDATION_FAILED',
      `Replay of run ${record.id}: ${where} names task "${id}", which workflow "${spec.name}" does not have. Tasks: ${[...known].join(', ')}.`,
      { details: { runId: record.id, taskId: id } },
    )
  for (const id of Object.keys(options.set ?? {})) if (!known.has(id)) throw unknown(id, '--set')

  const changed = {
    ...spec,
    tasks: spec.tasks.map((t) => (options.set?.[t.id] ? { ...t, ...options.set[t.id], id: t.id } : t)),
  }
  let workflow: Workflow
  try {
    workflow = compileWorkflow(changed)
  } catch (e) {
    const err = toFlotillaError(e, 'WORKFLOW_INVALID')
    throw new FlotillaError(err.code, `Replay of run ${record.id}: the changed workflow is invalid: ${err.message}`, {
      cause: e,
      details: err.details,
    })
  }
  for (const id of options.from ?? []) if (!workflow.indexOf.has(id)) throw unknown(id, '--from')
  const inputChanged = options.input !== undefined && JSON.stringify(options.input) !== JSON.stringify(record.input)
  const seeds = new Set<number>()
  for (const id of options.from ?? []) seeds.add(workflow.indexOf.get(id)!)
  for (const id of Object.keys(options.set ?? {})) seeds.add(workflow.indexOf.get(id)!)
  if (inputChanged) {
    for (const t of workflow.tasks) {
      const refs = [
        ...collectRefs(t.spec.input, t.id),
        ...(t.spec.when !== undefined ? parseCondition(t.spec.when, t.id).refs : []),
      ]
      if (refs.some((r) => r.source === 'input')) seeds.add(t.index)
    }
  }
  // Everything downstream of a seed re-runs too.
  const rerun = new Uint8Array(workflow.tasks.length)
  const stack = [...seeds]
  while (stack.length > 0) {
    const i = stack.pop()!
    if (rerun[i]) continue
    rerun[i] = 1
    for (const j of workflow.tasks[i].dependents) stack.push(j)
  }
  const stored = new Map(tasks.map((t) => [t.taskId as string, t]))
  const preset: TaskRecord[] = []
  for (const t of workflow.tasks) {
    const rec = stored.get(t.id)
    if (!rerun[t.index] && rec?.state === 'SUCCEEDED') preset.push({ ...rec, error: undefined, model: undefined }) // its spend was the parent run's
  }
  return {
    workflow,
    input: options.input ?? record.input,
    preset,
    rerun: workflow.tasks.filter((t) => !preset.some((p) => p.taskId === t.id)).map((t) => t.id),
  }
}
