import { randomUUID } from 'node:crypto'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { asRunId, type RunId, type TaskId } from '../core/ids.js'
import { isFinalRunState } from '../core/states.js'
import type { ChildAgentRef, TemplateSpawnRequest } from '../agents/context.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import {
  instantiateTemplate,
  spawnParentOf,
  type SpawnParent,
  type TemplateInstance,
} from '../agents/agent-template.js'
import type { Budget } from '../models/budget.js'
import type { Registry } from '../registry/registry.js'
import type { Store } from '../store/store.js'
import { isChildPlan, type ChildPlan } from '../workflows/child-plan.js'
import { compileWorkflow, type Workflow } from '../workflows/compile.js'
import type { Interceptor } from '../workflows/invoker.js'
import type { RunResult } from '../workflows/results.js'
import type { TaskSpec } from '../workflows/spec.js'
import { workflow as builder } from '../workflows/builder.js'

/** What {@link ChildRuns} needs of its orchestrator. */
export interface ChildRunsHost {
  readonly store: Store
  readonly registry: Registry
  /** Most tasks of any plan. */
  readonly maxPlanTasks: number
  /**
   * Starts a child run (stored linked to its parent task) and returns its
   * result. `signal`: the parent attempt's; a host that only waits for the
   * run (a worker's) stops waiting when it aborts.
   */
  start(
    workflow: Workflow,
    input: unknown,
    ids: { runId: RunId; parentRunId?: RunId; parentTaskId?: TaskId },
    signal?: AbortSignal,
  ): Promise<RunResult>
  /** The result of a stored, unfinished run: awaited here if it is live, recovered here otherwise (`signal` as for `start`). */
  resume(runId: RunId, signal?: AbortSignal): Promise<RunResult>
  /** Cancels a run. */
  cancel(runId: RunId, reason: string): Promise<void>
}

/** Where a spawn from a template happens: the run and task of the spawning command (if it runs a task), and who hears what it spends. */
export interface SpawnLineage {
  readonly runId?: RunId
  readonly taskId?: TaskId
  /** Hears what each execution's model calls used (tokens: input + output). */
  readonly onSpent?: (used: { tokens: number; costUsd: number; calls: number }) => void
}

/** The id of the child run a task plans: the same on every attempt, so a task re-run after a crash finds it. */
export function childRunId(parentRunId: string, taskId: string, suffix?: string): RunId {
  return asRunId(`${parentRunId}.${taskId}${suffix === undefined ? '' : `.${suffix}`}`)
}

/**
 * Child runs: a task that returns a plan ({@link childWorkflow}) waits for it
 * to run as a child run, and a task that spawns an agent from a template
 * runs it as one. The interceptor checks a plan fully before anything
 * starts; the child run's id derives from the parent run and task, so an
 * attempt run again after a crash takes over the child it had started (or
 * its stored result) instead of starting another.
 */
export class ChildRuns {
  constructor(private readonly host: ChildRunsHost) {}

  /** The interceptor that turns a returned plan into a child run (innermost in the chain). */
  readonly interceptor: Interceptor = async (call, next) => {
    const out = await next(call)
    if (!isChildPlan(out)) return out
    return this.runPlan(call.definition, call.runId, call.taskId, out, call.context.signal)
  }

  /**
   * Checks a plan, spawns its agents, starts (or takes over) its child run
   * and returns its outputs. `signal`: the planning attempt's (see
   * {@link ChildRunsHost.start}).
   */
  async runPlan(
    planner: AnyAgentDefinition,
    runId: RunId,
    taskId: TaskId,
    plan: ChildPlan,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const id = childRunId(runId, taskId)
    const stored = await this.host.store.getRun(id)
    const wf = await this.prepare(planner, plan)
    return this.childResult(
      id,
      stored === undefined,
      () => this.host.start(wf, plan.input, { runId: id, parentRunId: runId, parentTaskId: taskId }, signal),
      signal,
    )
  }

  /** Starts the child run (`fresh`), or takes over the stored one; its outputs, or CHILD_RUN_FAILED. */
  private async childResult(
    id: RunId,
    fresh: boolean,
    start: () => Promise<RunResult>,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    if (fresh) return outputsOf(await start())
    const stored = await this.host.store.getRun(id)
    if (stored !== undefined && isFinalRunState(stored.state)) return this.storedResult(id)
    return outputsOf(await this.host.resume(id, signal))
  }

  /** Registers an agent made from a template, unless an equal one (same name: same configuration) is there. */
  private async ensureRegistered(definition: AnyAgentDefinition): Promise<void> {
    if (this.host.registry.has(definition.name)) return
    try {
      await this.host.registry.register(definition)
    } catch (e) {
      if (!this.host.registry.has(definition.name)) throw e
    }
  }

  /** Every check of a plan, then its agents registered: throws before anything is started. */
  private async prepare(planner: AnyAgentDefinition, plan: ChildPlan): Promise<Workflow> {
    const spec = plan.workflow
    if (typeof spec !== 'object' || spec === null || !Array.isArray(spec.tasks))
      throw new FlotillaError('PLAN_INVALID', `The plan of "${planner.name}" is not a workflow (no tasks list).`, {
        details: { agent: planner.name },
      })
    const max = Math.min(plan.maxTasks ?? this.host.maxPlanTasks, this.host.maxPlanTasks)
    if (spec.tasks.length > max)
      throw new FlotillaError(
        'PLAN_TOO_LARGE',
        `The plan of "${planner.name}" holds ${spec.tasks.length} tasks; at most ${max} are allowed. Ask for a smaller plan or raise maxTasks.`,
        { details: { agent: planner.name, tasks: spec.tasks.length, maxTasks: max } },
      )
    const checked = compileWorkflow(spec) // cycles, unknown dependencies, bad references: WORKFLOW_* before anything else
    const parent = spawnParentOf(planner)
    const spawned = new Map<string, TemplateInstance>()
    for (const [name, asked] of Object.entries(plan.agents)) {
      const found = this.host.registry.templates.resolve(
        asked.template,
        plan.fallbackTemplate === undefined ? {} : { fallback: plan.fallbackTemplate },
      )
      spawned.set(
        name,
        instantiateTemplate(found.template, {
          parent,
          base: name,
          ...(asked.overrides === undefined ? {} : { overrides: asked.overrides }),
          ...(found.system === undefined ? {} : { system: found.system }),
        }),
      )
    }
    const tasks = spec.tasks.map((t) => renamed(t, spawned))
    const names = new Set([...spawned.values()].map((s) => s.definition.name))
    for (const t of tasks)
      for (const name of [t.agent, t.fallback])
        if (name !== undefined && !this.host.registry.has(name) && !names.has(name))
          throw new FlotillaError(
            'WORKFLOW_UNKNOWN_AGENT',
            `Task "${t.id}" of the plan of "${planner.name}" names agent "${name}", which is neither registered nor spawned by the plan (agents: { "${name}": { template } }).`,
            { details: { agent: name, task: t.id } },
          )
    checkPlanBudget(planner.name, parent.budget?.run, tasks, spawned)
    const wf = spawned.size === 0 ? checked : compileWorkflow({ ...spec, tasks })
    for (const s of spawned.values()) await this.ensureRegistered(s.definition)
    return wf
  }

  /** The result of a final stored child run: its outputs, or CHILD_RUN_FAILED. */
  private async storedResult(id: RunId): Promise<Record<string, unknown>> {
    const run = await this.host.store.getRun(id)
    if (run?.state !== 'SUCCEEDED') throw childFailed(id, run?.state ?? 'missing', run?.error?.message)
    const out: Record<string, unknown> = {}
    for (const t of await this.host.store.getTasks(id)) if (t.state === 'SUCCEEDED') out[t.taskId] = t.output
    return out
  }

  /**
   * `ctx.spawn({ template })` in a task, or in a command of a deployed
   * agent: the agent made from the template (carved from `parent`),
   * registered; each `execute` runs it as a one-task child run of the task
   * (`lineage.runId`/`taskId`), numbered in call order, or as a run of its
   * own when the command runs no task. `lineage.onSpent` hears what each
   * execution's model calls used (a deployed spawner's tree budget).
   */
  spawn(parent: SpawnParent, request: TemplateSpawnRequest, lineage: SpawnLineage): ChildAgentRef {
    const found = this.host.registry.templates.resolve(
      request.template,
      request.fallback === undefined ? {} : { fallback: request.fallback },
    )
    const { definition } = instantiateTemplate(found.template, {
      parent,
      ...(request.overrides === undefined ? {} : { overrides: request.overrides }),
      base: request.name ?? request.template,
      ...(found.system === undefined ? {} : { system: found.system }),
    })
    const name = definition.name
    const { runId, taskId } = lineage
    let calls = 0
    const registered = this.ensureRegistered(definition)
    registered.catch(() => undefined) // awaited by execute
    return {
      id: name,
      name,
      execute: async (input) => {
        await registered
        const wf = builder(`spawn:${name}`).task('answer', { agent: name, input }).build()
        const linked = runId !== undefined && taskId !== undefined
        const id = linked
          ? childRunId(runId, taskId, `${name}.${++calls}`)
          : asRunId(`spawn.${parent.name}.${name}.${randomUUID().slice(0, 8)}`)
        const stored = linked ? await this.host.store.getRun(id) : undefined
        const outputs = await this.childResult(id, stored === undefined, () =>
          this.host.start(
            wf,
            undefined,
            linked ? { runId: id, parentRunId: runId, parentTaskId: taskId } : { runId: id },
          ),
        )
        if (lineage.onSpent !== undefined) lineage.onSpent(await this.spendOf(id))
        return outputs.answer
      },
      terminate: () => Promise.resolve(),
    }
  }

  /** What the model calls of a one-task spawn run used, from its stored task record. */
  private async spendOf(id: RunId): Promise<{ tokens: number; costUsd: number; calls: number }> {
    const [task] = await this.host.store.getTasks(id)
    const m = task?.model
    return m === undefined
      ? { tokens: 0, costUsd: 0, calls: 0 }
      : { tokens: m.inputTokens + m.outputTokens, costUsd: m.costUsd, calls: m.calls }
  }

  /** Cancels the unfinished child runs of a cancelled run. */
  async cancelChildren(parentRunId: RunId, reason: string): Promise<void> {
    const children = await this.host.store.listRuns({ parentRunId, limit: Number.MAX_SAFE_INTEGER })
    for (const c of children)
      if (c.parentTaskId !== undefined && !isFinalRunState(c.state))
        await this.host.cancel(c.id, `parent run ${parentRunId} cancelled: ${reason}`).catch(() => undefined)
  }
}

/** A task of a plan with the names of spawned agents replaced by their registered names. */
function renamed(t: TaskSpec, spawned: ReadonlyMap<string, TemplateInstance>): TaskSpec {
  const agent = t.agent === undefined ? undefined : spawned.get(t.agent)?.definition.name
  const fallback = t.fallback === undefined ? undefined : spawned.get(t.fallback)?.definition.name
  return { ...t, ...(agent === undefined ? {} : { agent }), ...(fallback === undefined ? {} : { fallback }) }
}

/**
 * The plan's size against the planner's run budget: the task budgets of the
 * spawned agents its tasks use, summed, may not exceed it (`PLAN_TOO_LARGE`).
 */
function checkPlanBudget(
  planner: string,
  run: Budget | undefined,
  tasks: readonly TaskSpec[],
  spawned: ReadonlyMap<string, TemplateInstance>,
): void {
  if (run === undefined) return
  const byName = new Map([...spawned.values()].map((s) => [s.definition.name, s]))
  for (const key of ['tokens', 'costUsd', 'calls'] as const) {
    const limit = run[key]
    if (limit === undefined) continue
    let total = 0
    for (const t of tasks) total += (t.agent === undefined ? undefined : byName.get(t.agent)?.budget?.task?.[key]) ?? 0
    if (total > limit + 1e-9)
      throw new FlotillaError(
        'PLAN_TOO_LARGE',
        `The plan of "${planner}" may spend up to ${total} ${key} (the task budgets of its agents), more than the planner's run budget of ${limit}; plan fewer tasks or smaller budgets.`,
        { details: { agent: planner, measure: key, planned: total, limit } },
      )
  }
}

function childFailed(id: RunId, state: string, message: string | undefined): FlotillaError {
  return new FlotillaError(
    'CHILD_RUN_FAILED',
    `Child run ${id} ended ${state}${message === undefined ? '' : `: ${message}`}; see \`flotilla runs show ${id}\`.`,
    { details: { runId: id, state } },
  )
}

/** The outputs of a child run's result, or CHILD_RUN_FAILED. */
function outputsOf(r: RunResult): Record<string, unknown> {
  if (r.ok) return { ...r.outputs }
  if (isFlotillaError(r.error) && r.error.code === 'RUN_INTERRUPTED') throw r.error
  throw childFailed(r.runId, r.state, r.error?.message)
}
