import { z } from 'zod'
import { FlotillaError } from '../core/errors.js'
import { BudgetMeter } from '../models/budget.js'
import { meteredModel } from '../models/metered-model.js'
import { DEFAULT_PRICES, priceOf } from '../models/pricing.js'
import { modelName, resolveModel, type LanguageModel } from '../models/providers.js'
import { runModel, type ModelRun, type ModelTool } from '../models/run-model.js'
import { PermissionSet } from '../security/permissions.js'
import type { AgentContext } from './context.js'
import { defineAgent, type AgentDefinition } from './define-agent.js'
import { think } from './llm-thinking.js'
import { RunSpend, type RunAttempt } from './llm-run-budget.js'
import { taskTools } from './llm-tools.js'
import { TaskMeter, type MeteredAs, type TaskBudgets } from './llm-task-meter.js'
import { checkLlmConfig, type LlmAgentConfig, type LlmBudgets, type LlmOutput } from './llm-agent-config.js'

export type { ConfidentAnswer, LlmAgentConfig, LlmBudgets, LlmOutput } from './llm-agent-config.js'

/** The critic's system prompt (reflection, and choosing among explored answers). */
const CRITIC_SYSTEM =
  'You are a careful reviewer. Judge answers strictly against the task; be concrete about what is wrong or missing.'

/** No tools: what a task of an agent without tools or MCP servers offers its model. */
const NO_MODEL_TOOLS: readonly ModelTool[] = Object.freeze([])

/** The budgets of a task of an agent without budgets. */
const NO_BUDGETS: TaskBudgets = Object.freeze({ task: undefined, agent: undefined, run: undefined, checked: [] })

function defaultPrompt(input: unknown): string {
  if (typeof input === 'string') return input
  if (typeof input === 'object' && input !== null && typeof (input as { prompt?: unknown }).prompt === 'string')
    return (input as { prompt: string }).prompt
  return JSON.stringify(input ?? null, null, 2)
}

/**
 * Defines an agent backed by a language model. It is an ordinary agent
 * definition: registered, routed, retried, circuit-broken and used in
 * workflows like any other. Each task runs the model with the agent's tools
 * (a tool loop of up to `maxSteps` calls); every model call is a durable step
 * of the task, so a retry or a takeover after a crash replays the calls
 * already answered instead of paying for them again; budgets are checked
 * before each call; each call becomes a `model.called` event with its
 * tokens and cost.
 *
 * @example
 * ```ts
 * const writer = defineLlmAgent({
 *   name: 'writer',
 *   model: 'openai:gpt-4.1-mini',
 *   system: 'You write one crisp paragraph.',
 *   budget: { task: { costUsd: 0.05 } },
 * })
 * ```
 */
export function defineLlmAgent<I = unknown, O = string, C extends boolean = false>(
  config: LlmAgentConfig<I, O, C>,
): AgentDefinition<I, LlmOutput<O, C>> {
  if (typeof config !== 'object' || config === null)
    throw new FlotillaError('AGENT_INVALID', 'defineLlmAgent needs a configuration object.')
  checkLlmConfig(config as LlmAgentConfig<unknown, unknown, boolean>)
  const name = config.name
  const tools = new Map((config.tools ?? []).map((t) => [t.name, t]))
  const toolNames = [...tools.keys()]
  const servers = config.mcp ?? []
  const permissions = new PermissionSet(
    config.permissions ?? [
      ...toolNames.map((t) => ({ resource: `tool:${t}`, actions: ['call'] })),
      ...servers.map((s) => ({ resource: `tool:mcp:${s.name}/*`, actions: ['call'] })),
    ],
  )
  const answerSchema: z.ZodType | undefined =
    config.confidence === true
      ? z.object({
          answer: (config.output as z.ZodType | undefined) ?? z.string(),
          confidence: z.number().min(0).max(1),
        })
      : (config.output as z.ZodType | undefined)
  const system =
    config.confidence === true
      ? `${config.system ?? ''}${config.system ? '\n\n' : ''}Answer in the field "answer", and give in "confidence" how likely your answer is right, from 0 to 1.`
      : config.system
  const prices = { ...DEFAULT_PRICES, ...(config.prices ?? {}) }
  const agentMeter = config.budget?.agent === undefined ? undefined : new BudgetMeter(config.budget.agent, 'agent')
  const runMeters = new Map<string, RunSpend>()
  let model: LanguageModel | undefined
  let critic: LanguageModel | undefined

  // What every model call of the agent is given, made once (not from conditional spreads on each call).
  const callSettings: Omit<ModelRun, 'model' | 'prompt' | 'tools' | 'maxSteps' | 'signal'> = {
    agent: name,
    maxRetries: config.maxRetries ?? 2,
  }
  if (config.temperature !== undefined) callSettings.temperature = config.temperature
  if (config.maxTokens !== undefined) callSettings.maxTokens = config.maxTokens
  if (config.thinking !== undefined) callSettings.thinking = config.thinking
  // The agent's own calls, but for the task's model, prompt, tools and signal.
  const asking: Omit<ModelRun, 'model' | 'prompt' | 'tools' | 'signal'> = {
    ...callSettings,
    maxSteps: config.maxSteps ?? 10,
  }
  if (system !== undefined) asking.system = system
  if (answerSchema !== undefined) asking.output = answerSchema
  const promptOf = config.prompt ?? defaultPrompt

  /** How calls to a model are charged and reported: its name and price, found once per model. */
  const meteredAs = new Map<LanguageModel, MeteredAs>()
  const asOf = (m: LanguageModel): MeteredAs => {
    let as = meteredAs.get(m)
    if (as === undefined) {
      const label = modelName(m)
      meteredAs.set(m, (as = { agent: name, label, price: priceOf(label, prices) }))
    }
    return as
  }
  const stream = config.stream === true
  const plain = config.explore === undefined && config.reflection === undefined
  const noTools = tools.size === 0 && servers.length === 0

  const handler = async (input: I, ctx: AgentContext): Promise<LlmOutput<O, C>> => {
    model ??= resolveModel(config.model, config.env)
    const taskMeter = config.budget?.task === undefined ? undefined : new BudgetMeter(config.budget.task, 'task')
    let runSpend: RunSpend | undefined
    let runAttempt: RunAttempt | undefined
    if (config.budget?.run !== undefined) {
      runSpend = runMeters.get(ctx.runId)
      if (runSpend === undefined) {
        if (runMeters.size >= 1000) runMeters.delete(runMeters.keys().next().value!)
        runMeters.set(ctx.runId, (runSpend = new RunSpend(config.budget.run)))
      }
      // What every worker stored for the run so far: the run budget holds across workers.
      for (const crossed of runSpend.seed(await ctx.storedModelSpend?.(), name))
        ctx.reportBudgetWarning({ agent: name, scope: 'run', ...crossed })
      runAttempt = runSpend.attempt(ctx.taskId)
    }
    const budgets: TaskBudgets =
      config.budget === undefined
        ? NO_BUDGETS
        : {
            task: taskMeter,
            agent: agentMeter,
            run: runAttempt,
            checked: [taskMeter, runSpend?.meter, agentMeter].filter((m): m is BudgetMeter => m !== undefined),
          }
    // The task's models share one count of calls: each call's journal step is numbered in call order.
    const counter = { calls: 0 }
    const metered = meteredModel(model, new TaskMeter(ctx, asOf(model), budgets, stream), counter)
    const signal = ctx.signal
    if (plain && noTools) {
      // One tool-less model run, nothing to think over: the common case, without the machinery below.
      const r = await runModel({ ...asking, model: metered, tools: NO_MODEL_TOOLS, signal, prompt: promptOf(input) })
      if (r.reasoning !== undefined) ctx.log.debug('model reasoning', { reasoning: r.reasoning })
      return (answerSchema === undefined ? r.text : r.output) as LlmOutput<O, C>
    }
    const criticModel =
      config.reflection?.critic === undefined
        ? metered
        : meteredModel(
            (critic ??= resolveModel(config.reflection.critic, config.env)),
            new TaskMeter(ctx, asOf(critic), budgets, stream),
            counter,
          )
    const offered = noTools ? undefined : await taskTools(ctx, name, permissions, tools, servers)
    // The agent's own calls: everything but the prompt, made once per task.
    const own: Omit<ModelRun, 'prompt'> = { ...asking, model: metered, tools: offered?.tools ?? NO_MODEL_TOOLS, signal }
    try {
      const result = await think({
        prompt: promptOf(input),
        ask: (prompt) => runModel({ ...own, prompt }),
        judge: async (prompt, schema) =>
          (
            await runModel({
              ...callSettings,
              signal,
              model: criticModel,
              prompt,
              tools: NO_MODEL_TOOLS,
              maxSteps: 1,
              system: CRITIC_SYSTEM,
              output: schema,
            })
          ).output as never,
        value: (r) => (answerSchema === undefined ? r.text : r.output),
        ...(config.explore === undefined ? {} : { explore: config.explore }),
        ...(config.reflection === undefined ? {} : { reflection: config.reflection }),
        log: ctx.log,
      })
      if (result.reasoning !== undefined) ctx.log.debug('model reasoning', { reasoning: result.reasoning })
      return (answerSchema === undefined ? result.text : result.output) as LlmOutput<O, C>
    } finally {
      await offered?.close()
    }
  }

  const definition = defineAgent<I, LlmOutput<O, C>>({
    name,
    ...(config.version === undefined ? {} : { version: config.version }),
    ...(config.description === undefined ? {} : { description: config.description }),
    ...(config.capabilities === undefined ? {} : { capabilities: config.capabilities }),
    ...(config.tags === undefined ? {} : { tags: config.tags }),
    ...(config.maxConcurrency === undefined ? {} : { maxConcurrency: config.maxConcurrency }),
    ...(config.permissions === undefined ? {} : { permissions: config.permissions }),
    ...(config.input === undefined ? {} : { input: config.input }),
    handler,
  })
  if (config.budget !== undefined) BUDGETS.set(definition, config.budget)
  return definition
}

const BUDGETS = new WeakMap<object, LlmBudgets>()

/** Records the budgets an agent wrapping a language-model agent (a planner) spends, for {@link llmAgentBudget}. */
export function rememberLlmBudget(definition: object, budget: LlmBudgets | undefined): void {
  if (budget !== undefined) BUDGETS.set(definition, budget)
}

/** The budgets a language-model agent was defined with (what agents it spawns are carved from); `undefined` for others. */
export function llmAgentBudget(definition: object): LlmBudgets | undefined {
  return BUDGETS.get(definition)
}
