import { FlotillaError } from '../core/errors.js'
import type { TemplateOverrides } from '../agents/agent-template.js'
import type { Workflow } from './compile.js'
import type { WorkflowSpec } from './spec.js'

/** An agent a plan spawns from a template, under the name its tasks use. */
export interface PlannedAgent {
  /** The template's name; without such a template, the plan's `fallbackTemplate` stands in for it as a specialty. */
  readonly template: string
  readonly overrides?: TemplateOverrides
}

/** Options of {@link childWorkflow}. */
export interface ChildWorkflowOptions {
  /** The child run's input. */
  readonly input?: unknown
  /**
   * Agents spawned for the plan from templates, by the name its tasks give
   * as `agent` (each is carved from the planning agent's permissions and
   * budget). Other names must be registered agents.
   */
  readonly agents?: Readonly<Record<string, PlannedAgent>>
  /** A generic template (one with a `specialty` prompt) for planned agents whose template does not exist. */
  readonly fallbackTemplate?: string
  /** Most tasks the plan may hold (`PLAN_TOO_LARGE`); at most the orchestrator's `maxPlanTasks`. */
  readonly maxTasks?: number
}

/** What a task returns to run a workflow as its child run; made by {@link childWorkflow}. */
export interface ChildPlan {
  readonly kind: 'flotilla.child-workflow'
  readonly workflow: WorkflowSpec
  readonly input: unknown
  readonly agents: Readonly<Record<string, PlannedAgent>>
  readonly fallbackTemplate: string | undefined
  readonly maxTasks: number | undefined
}

/**
 * Wraps a plan (a workflow built with the builder, or a spec) as a task's
 * answer: the orchestrator checks it (a valid workflow, no more than
 * `maxTasks` tasks, every agent registered or spawnable from a template
 * within the planning agent's permissions and budget) before anything
 * starts, runs it as a durable child run linked to the task, and the task's
 * output becomes the child run's outputs (`{ [taskId]: output }`).
 *
 * @example
 * ```ts
 * const planner = defineAgent({
 *   name: 'fan-out',
 *   handler: (topics: string[]) =>
 *     childWorkflow({ name: 'topics', tasks: topics.map((t, i) => ({ id: `t${i}`, agent: 'echo', input: t })) }),
 * })
 * ```
 */
export function childWorkflow(workflow: Workflow | WorkflowSpec, options: ChildWorkflowOptions = {}): ChildPlan {
  if (typeof workflow !== 'object' || workflow === null)
    throw new FlotillaError('PLAN_INVALID', 'childWorkflow needs a workflow (builder result or spec).')
  const spec = 'hash' in workflow && 'spec' in workflow ? (workflow.spec as WorkflowSpec) : (workflow as WorkflowSpec)
  return {
    kind: 'flotilla.child-workflow',
    workflow: spec,
    input: options.input,
    agents: options.agents ?? {},
    fallbackTemplate: options.fallbackTemplate,
    maxTasks: options.maxTasks,
  }
}

/** True for a task answer made by {@link childWorkflow}. */
export function isChildPlan(value: unknown): value is ChildPlan {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'flotilla.child-workflow'
}
