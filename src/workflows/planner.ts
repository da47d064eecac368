import { z } from 'zod'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { AgentContext } from '../agents/context.js'
import { defineAgent, type AgentDefinition } from '../agents/define-agent.js'
import { defineLlmAgent, rememberLlmBudget, type LlmBudgets } from '../agents/llm-agent.js'
import type { ModelSpec } from '../models/providers.js'
import type { ModelPrice } from '../models/pricing.js'
import type { Permission } from '../security/permissions.js'
import { childWorkflow, type ChildPlan, type PlannedAgent } from './child-plan.js'
import { compileWorkflow } from './compile.js'
import type { TaskSpec, WorkflowSpec } from './spec.js'

/** The structured answer a planner's model gives: specialist tasks with their dependencies. */
export const planSchema = z.object({
  tasks: z
    .array(
      z.object({
        id: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'a lower-case id of letters, digits, "_" or "-"'),
        specialty: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a lower-case specialty name'),
        prompt: z.string().min(1),
        dependsOn: z.array(z.string()).optional(),
      }),
    )
    .min(1),
})

/** A plan as the planner's model gives it. */
export type PlanAnswer = z.infer<typeof planSchema>

/** The configuration given to {@link definePlannerAgent}. */
export interface PlannerConfig {
  name: string
  /** @default "1.0.0" */
  version?: string
  description?: string
  /** The planner's model (any AI SDK 6 model or `provider:model`). */
  model: ModelSpec
  /** Told before the request; the specialties and rules are added. */
  system?: string
  /** The agent templates (specialties) the planner may use. */
  templates: readonly string[]
  /** A generic template (one with a `specialty` prompt) standing in for a specialty that has no template; without it, other specialties are refused. */
  fallbackTemplate?: string
  /** Most tasks of a plan. @default 10 */
  maxTasks?: number
  /** Plans asked for before giving up on malformed ones (`PLAN_INVALID`); each later ask says what was wrong. @default 2 */
  attempts?: number
  /** What the planner holds: the spawned specialists' permissions are carved from it. */
  permissions?: readonly Permission[]
  /** The planner's budgets; `run` also bounds the plan (the task budgets of its specialists, summed). */
  budget?: LlmBudgets
  temperature?: number
  /** Prices by `provider:model` prefix, over the shipped table. */
  prices?: Readonly<Record<string, ModelPrice>>
}

/**
 * Defines a planner: a language-model agent that turns a request into a
 * plan of specialist tasks (structured output, {@link planSchema}), checked
 * (known specialties, no cycle, at most `maxTasks`) and asked again with
 * what was wrong up to `attempts` times, then returned as a
 * {@link childWorkflow} whose specialists are spawned from templates. The
 * orchestrator runs it as a durable child run; the planner task's output is
 * the child run's outputs. Every model call is a durable step: a planner
 * task run again after a crash does not ask again.
 *
 * @example
 * ```ts
 * const planner = definePlannerAgent({
 *   name: 'coordinator',
 *   model: 'openai:gpt-4.1-mini',
 *   templates: ['researcher', 'analyst'],
 *   permissions: [{ resource: 'tool:*', actions: ['call'] }],
 * })
 * ```
 */
export function definePlannerAgent(config: PlannerConfig): AgentDefinition<unknown, ChildPlan> {
  const maxTasks = config.maxTasks ?? 10
  const attempts = config.attempts ?? 2
  if (!Number.isInteger(maxTasks) || maxTasks < 1 || !Number.isInteger(attempts) || attempts < 1)
    throw new FlotillaError(
      'AGENT_INVALID',
      `Planner "${config.name}": maxTasks and attempts must be whole numbers ≥ 1.`,
      {
        details: { agent: config.name },
      },
    )
  const known = new Set(config.templates)
  const rules = [
    `Plan the work as at most ${maxTasks} tasks for specialists.`,
    `Specialties: ${config.templates.join(', ')}${config.fallbackTemplate === undefined ? ' (no others)' : ' (or another specialty, named in lower case, when none fits)'}.`,
    'Give each task an id, its specialty, a self-contained prompt, and dependsOn: the ids of the tasks whose answers it needs (no cycles).',
  ].join('\n')
  const model = defineLlmAgent({
    name: config.name,
    model: config.model,
    system: `${config.system ?? 'You are a coordinator who splits a request into tasks for specialists.'}\n\n${rules}`,
    output: planSchema,
    ...(config.temperature === undefined ? {} : { temperature: config.temperature }),
    ...(config.prices === undefined ? {} : { prices: config.prices }),
    ...(config.budget === undefined ? {} : { budget: config.budget }),
    ...(config.permissions === undefined ? {} : { permissions: config.permissions }),
  })
  const definition = defineAgent<unknown, ChildPlan>({
    name: config.name,
    ...(config.version === undefined ? {} : { version: config.version }),
    ...(config.description === undefined ? {} : { description: config.description }),
    tags: ['planner'],
    ...(config.permissions === undefined ? {} : { permissions: config.permissions }),
    handler: async (input, ctx) => {
      let problem: FlotillaError | undefined
      for (let i = 0; i < attempts; i++) {
        const prompt =
          problem === undefined
            ? input
            : `${typeof input === 'string' ? input : JSON.stringify(input)}\n\nYour previous plan was refused: ${problem.message} Answer with a corrected plan.`
        let answer: PlanAnswer
        try {
          answer = (await model.handler(prompt, stepScoped(ctx, `plan${i}`))) as PlanAnswer
        } catch (e) {
          if (!isFlotillaError(e) || e.code !== 'MODEL_OUTPUT_INVALID') throw e
          problem = e
          continue
        }
        try {
          return toPlan(answer, { maxTasks, known, fallbackTemplate: config.fallbackTemplate, name: config.name })
        } catch (e) {
          if (!isFlotillaError(e)) throw e
          problem = e
        }
      }
      throw new FlotillaError(
        problem?.code === 'PLAN_TOO_LARGE' ? 'PLAN_TOO_LARGE' : 'PLAN_INVALID',
        `Planner "${config.name}" gave no usable plan in ${attempts} attempts; the last was refused: ${problem?.message ?? 'unknown'}`,
        { details: { agent: config.name, attempts }, ...(problem === undefined ? {} : { cause: problem }) },
      )
    },
  })
  rememberLlmBudget(definition, config.budget)
  return definition
}

/** A context whose durable steps are named under `prefix`, so that each ask of the model is journaled apart. */
function stepScoped(ctx: AgentContext, prefix: string): AgentContext {
  const step = <T>(name: string, fn: () => T | Promise<T>): Promise<T> => ctx.step(`${prefix}:${name}`, fn)
  return new Proxy(ctx, { get: (target, key) => (key === 'step' ? step : Reflect.get(target, key, target)) })
}

/** Checks a model's plan and makes it a child workflow (`PLAN_INVALID`, `PLAN_TOO_LARGE`, `WORKFLOW_*`). */
export function toPlan(
  answer: PlanAnswer,
  o: { maxTasks: number; known: ReadonlySet<string>; fallbackTemplate: string | undefined; name: string },
): ChildPlan {
  if (answer.tasks.length > o.maxTasks)
    throw new FlotillaError(
      'PLAN_TOO_LARGE',
      `The plan holds ${answer.tasks.length} tasks; at most ${o.maxTasks} are allowed.`,
      { details: { tasks: answer.tasks.length, maxTasks: o.maxTasks } },
    )
  const agents: Record<string, PlannedAgent> = {}
  const tasks: TaskSpec[] = answer.tasks.map((t) => {
    if (!o.known.has(t.specialty) && o.fallbackTemplate === undefined)
      throw new FlotillaError(
        'AGENT_TEMPLATE_NOT_FOUND',
        `Task "${t.id}" asks for specialty "${t.specialty}"; use one of ${[...o.known].join(', ')}.`,
        { details: { template: t.specialty, task: t.id } },
      )
    agents[t.specialty] = { template: t.specialty }
    const deps = t.dependsOn ?? []
    return {
      id: t.id,
      agent: t.specialty,
      input:
        deps.length === 0
          ? t.prompt
          : { task: t.prompt, context: Object.fromEntries(deps.map((d) => [d, { $ref: `tasks.${d}.output` }])) },
      ...(deps.length === 0 ? {} : { dependsOn: deps }),
    }
  })
  const spec: WorkflowSpec = { name: `${o.name}-plan`, tasks }
  compileWorkflow(spec)
  return childWorkflow(spec, {
    agents,
    maxTasks: o.maxTasks,
    ...(o.fallbackTemplate === undefined ? {} : { fallbackTemplate: o.fallbackTemplate }),
  })
}
