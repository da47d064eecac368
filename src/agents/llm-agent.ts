import { z } from 'zod'
import { FlotillaError } from '../core/errors.js'
import { BudgetMeter } from '../models/budget.js'
import { meteredModel } from '../models/metered-model.js'
import { costOf, DEFAULT_PRICES, priceOf, type ModelPrice } from '../models/pricing.js'
import { modelName, resolveModel, type LanguageModel } from '../models/providers.js'
import { runModel, type ModelRun } from '../models/run-model.js'
import { totalTokens } from '../models/usage.js'
import { PermissionSet } from '../security/permissions.js'
import type { AgentContext } from './context.js'
import { defineAgent, type AgentDefinition } from './define-agent.js'
import { think } from './llm-thinking.js'
import { RunSpend, type RunAttempt } from './llm-run-budget.js'
import { taskTools } from './llm-tools.js'
import { checkLlmConfig, type LlmAgentConfig, type LlmBudgets, type LlmOutput } from './llm-agent-config.js'

export type { ConfidentAnswer, LlmAgentConfig, LlmBudgets, LlmOutput } from './llm-agent-config.js'

/** The critic's system prompt (reflection, and choosing among explored answers). */
const CRITIC_SYSTEM =
  'You are a careful reviewer. Judge answers strictly against the task; be concrete about what is wrong or missing.'

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
  const pricesByModel = new Map<string, ModelPrice | undefined>()
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
  const askSettings: Pick<ModelRun, 'maxSteps' | 'system' | 'output'> = { maxSteps: config.maxSteps ?? 10 }
  if (system !== undefined) askSettings.system = system
  if (answerSchema !== undefined) askSettings.output = answerSchema

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
    const runMeter = runSpend?.meter
    const meters = [taskMeter, runMeter, agentMeter].filter((m): m is BudgetMeter => m !== undefined)
    const counter = { calls: 0 }
    const charge = (b: BudgetMeter, used: { tokens: number; costUsd: number }): void => {
      for (const crossed of b.charge(used)) ctx.reportBudgetWarning({ agent: name, scope: b.scope, ...crossed })
    }
    const meter = (m: LanguageModel): LanguageModel => {
      const label = modelName(m)
      let price = pricesByModel.get(label)
      if (price === undefined && !pricesByModel.has(label)) pricesByModel.set(label, (price = priceOf(label, prices)))
      return meteredModel(
        m,
        {
          step: (n, fn) => ctx.step(n, fn),
          ...(ctx.debug === true ? { full: true } : {}),
          ...(config.stream === true
            ? {
                stream: true,
                progress: (p) =>
                  ctx.progress(
                    p.fraction,
                    `model call ${p.index + 1}: ${p.text} characters${p.reasoning > 0 ? ` (thinking: ${p.reasoning})` : ''}${p.tail ? ` …${p.tail}` : ''}`,
                  ),
              }
            : {}),
          beforeCall: (w) => {
            if (meters.length === 0) return
            const worst = {
              tokens: w.inputTokens + w.outputTokens,
              costUsd: costOf(
                { inputTokens: w.inputTokens, outputTokens: w.outputTokens, reasoningTokens: 0, cachedInputTokens: 0 },
                price,
              ),
            }
            for (const b of meters) b.check(name, worst)
          },
          ...(ctx.holdTreeBudget === undefined
            ? {}
            : {
                hold: async (w) => {
                  const tokens = w.inputTokens + w.outputTokens
                  const usage = { inputTokens: w.inputTokens, outputTokens: w.outputTokens }
                  const held = await ctx.holdTreeBudget!({
                    tokens,
                    costUsd: costOf({ ...usage, reasoningTokens: 0, cachedInputTokens: 0 }, price),
                  })
                  return (
                    held && {
                      settle: (u) => held.settle({ tokens: totalTokens(u), costUsd: costOf(u, price) }),
                      release: () => held.release(),
                    }
                  )
                },
              }),
          afterCall: (c) => {
            const costUsd = costOf(c.usage, price)
            const used = { tokens: totalTokens(c.usage), costUsd }
            // A replayed call was charged to the agent budget when it was made; the run's counts it once (RunSpend).
            if (taskMeter !== undefined) charge(taskMeter, used)
            if (agentMeter !== undefined && !c.replayed) charge(agentMeter, used)
            if (runAttempt !== undefined)
              for (const crossed of runAttempt.charge(used, c.replayed))
                ctx.reportBudgetWarning({ agent: name, scope: 'run', ...crossed })
            for (const w of c.warnings) ctx.log.warn('model warning', w)
            const event: Parameters<AgentContext['reportModelCall']>[0] = {
              agent: name,
              model: label,
              call: c.index,
              usage: c.usage,
              costUsd,
              durationMs: Math.round(c.durationMs),
              replayed: c.replayed,
              finishReason: c.finishReason,
              answer: c.answer,
            }
            if (c.prompt !== undefined) event.prompt = c.prompt
            ctx.reportModelCall(event)
          },
        },
        counter,
      )
    }
    const metered = meter(model)
    const criticModel =
      config.reflection?.critic === undefined
        ? metered
        : meter((critic ??= resolveModel(config.reflection.critic, config.env)))
    const offered = await taskTools(ctx, name, permissions, tools, servers)
    const settings = { ...callSettings, signal: ctx.signal }
    // The agent's own calls: everything but the prompt, made once per task.
    const asking: Omit<ModelRun, 'prompt'> = { ...askSettings, ...settings, model: metered, tools: offered.tools }
    try {
      const result = await think({
        prompt: (config.prompt ?? defaultPrompt)(input),
        ask: (prompt) => runModel({ ...asking, prompt }),
        judge: async (prompt, schema) =>
          (
            await runModel({
              ...settings,
              model: criticModel,
              prompt,
              tools: [],
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
      await offered.close()
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
