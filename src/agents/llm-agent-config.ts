/**
 * The configuration of a language-model agent ({@link LlmAgentConfig}, its
 * budgets and answers) and the check of a configuration before the agent is
 * made: unknown options, the model, counts, budgets, MCP servers, tools.
 */
import { FlotillaError } from '../core/errors.js'
import { checkBudget, type Budget } from '../models/budget.js'
import type { ModelPrice } from '../models/pricing.js'
import { providerNames, type ModelEnv, type ModelSpec } from '../models/providers.js'
import { checkMcpServers, type McpServer } from '../models/mcp.js'
import type { ThinkingOptions } from '../models/run-model.js'
import type { Permission } from '../security/permissions.js'
import type { Schema } from './define-agent.js'
import type { ExploreOptions, ReflectionOptions } from './llm-thinking.js'
import type { AnyToolDefinition } from './tools.js'
/** Budgets of a language-model agent, by scope. */
export interface LlmBudgets {
  /** Per task: every model call of one task, over its attempts (calls replayed from the journal count). */
  task?: Budget
  /** Per run: the agent's calls in one run, over every worker (seeded before each task from what the run's task records hold). */
  run?: Budget
  /** The agent's calls in this process, over all runs. */
  agent?: Budget
}

/** The configuration given to {@link defineLlmAgent}. */
export interface LlmAgentConfig<I, O, C extends boolean> {
  /** Unique name, as for {@link defineAgent}. */
  name: string
  /** @default "1.0.0" */
  version?: string
  description?: string
  capabilities?: readonly string[]
  tags?: readonly string[]
  maxConcurrency?: number
  /** What the agent may reach (tools, artifacts, messages…), as for {@link defineAgent}. Left out: it may call its own `tools`. */
  permissions?: readonly Permission[]
  /** Any AI SDK 6 language model, or `provider:model` (`openai:gpt-4.1-mini`, `anthropic:claude-sonnet-4-5`, `openai-compatible:<base URL>#<model>`). Resolved on first use. */
  model: ModelSpec
  /** The system prompt. */
  system?: string
  /** Turns the task input into the prompt. @default a string input as is; `{ prompt }`'s prompt; other input as JSON */
  prompt?: (input: I) => string
  /** Schema of the input. */
  input?: Schema<I>
  /** Structured output: the answer is an object matching this schema (told once what was wrong, then `MODEL_OUTPUT_INVALID`). Left out: the answer is the model's text. */
  output?: Schema<O>
  /** Adds a self-reported confidence: the output becomes `{ answer, confidence }`, confidence in [0, 1]. @default false */
  confidence?: C
  /** Tools the model may call, each call checked against the agent's permissions (`tool:<name>` `call`). */
  tools?: readonly AnyToolDefinition[]
  /**
   * MCP servers whose tools the model may call too, as `mcp:<server>/<tool>`
   * (permission `tool:mcp:<server>/<tool>` `call`): `{ name, command, args?, env?, cwd? }`
   * (started for each task, over stdio) or `{ name, url, headers? }` (streamable HTTP).
   */
  mcp?: readonly McpServer[]
  temperature?: number
  /** Most tokens of one answer; also what a budget check counts as the answer's worst case. @default 4096 for the budget check */
  maxTokens?: number
  /** Most model calls of one task's tool loop. @default 10 */
  maxSteps?: number
  /** Retries of one call on 429, 5xx and network errors, honouring `Retry-After`. @default 2 */
  maxRetries?: number
  /** Extended thinking: Anthropic's thinking budget, OpenAI's reasoning effort. */
  thinking?: ThinkingOptions
  /**
   * Make each model call streaming: the answer's text is reported as it comes
   * (`ctx.progress`, a `task.progress` event at most every second), and a
   * stream that breaks off fails the call at once (`MODEL_CALL_FAILED`)
   * instead of waiting for a whole body. Journal, budgets, usage, cost and
   * `model.called` events are those of a generated call. Use it for long
   * answers someone watches, or behind proxies that cut idle connections.
   * @default false
   */
  stream?: boolean
  /** Critique and revise: `{ rounds, critic? }` (a critic model; default the agent's own). */
  reflection?: ReflectionOptions
  /** Ask for `k` alternative answers and keep one: `{ k, choose: 'vote' | 'critic' }`. */
  explore?: ExploreOptions
  /** Limits checked before each call against its worst case (`BUDGET_EXCEEDED`, no call made); `budget.warning` at 80 %. */
  budget?: LlmBudgets
  /** Prices by `provider:model` prefix, over the shipped table ({@link DEFAULT_PRICES}). */
  prices?: Readonly<Record<string, ModelPrice>>
  /** Where API keys are read. @default process.env */
  env?: ModelEnv
}

/** The answer of an agent with `confidence: true`. */
export interface ConfidentAnswer<O> {
  answer: O
  /** The model's own estimate that the answer is right, in [0, 1]. */
  confidence: number
}

/** What a language-model agent returns: the text (or the structured output), wrapped with a confidence when asked. */
export type LlmOutput<O, C extends boolean> = C extends true ? ConfidentAnswer<O> : O

const LLM_KEYS = new Set([
  'name',
  'version',
  'description',
  'capabilities',
  'tags',
  'maxConcurrency',
  'permissions',
  'model',
  'system',
  'prompt',
  'input',
  'output',
  'confidence',
  'tools',
  'mcp',
  'reflection',
  'explore',
  'temperature',
  'maxTokens',
  'maxSteps',
  'maxRetries',
  'thinking',
  'stream',
  'budget',
  'prices',
  'env',
])

function invalid(name: string, what: string): never {
  throw new FlotillaError('AGENT_INVALID', `Agent "${name}": ${what}.`, { details: { agent: name } })
}

/** Refuses a configuration {@link defineLlmAgent} cannot make an agent of (`AGENT_INVALID`, naming the option). */
export function checkLlmConfig(c: LlmAgentConfig<unknown, unknown, boolean>): void {
  const name = String(c.name)
  for (const key of Object.keys(c))
    if (!LLM_KEYS.has(key)) invalid(name, `unknown option "${key}" (known: ${[...LLM_KEYS].join(', ')})`)
  const m = c.model
  if (typeof m === 'string') {
    const provider = m.slice(0, Math.max(0, m.indexOf(':')))
    if (!providerNames().includes(provider))
      invalid(name, `model "${m}" is not provider:model with a known provider (${providerNames().join(', ')})`)
  } else if (
    typeof m !== 'object' ||
    m === null ||
    (m as { specificationVersion?: unknown }).specificationVersion !== 'v3'
  ) {
    invalid(name, 'model must be an AI SDK 6 language model or a provider:model string')
  }
  const positive = (v: unknown, what: string, min = 1): void => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min))
      invalid(name, `${what} must be a whole number ≥ ${min}`)
  }
  positive(c.maxSteps, 'maxSteps')
  positive(c.reflection?.rounds, 'reflection.rounds')
  if (c.reflection !== undefined && c.reflection.rounds === undefined)
    invalid(name, 'reflection needs rounds (a whole number ≥ 1)')
  positive(c.explore?.k, 'explore.k', 2)
  if (
    c.explore !== undefined &&
    (c.explore.k === undefined ||
      (c.explore.choose !== undefined && c.explore.choose !== 'vote' && c.explore.choose !== 'critic'))
  )
    invalid(name, 'explore needs k (≥ 2) and choose "vote" or "critic"')
  positive(c.maxTokens, 'maxTokens')
  positive(c.maxRetries, 'maxRetries', 0)
  if (c.stream !== undefined && typeof c.stream !== 'boolean') invalid(name, 'stream must be true or false')
  if (c.temperature !== undefined && (typeof c.temperature !== 'number' || c.temperature < 0 || c.temperature > 2))
    invalid(name, 'temperature must be a number from 0 to 2')
  for (const scope of ['task', 'run', 'agent'] as const) checkBudget(name, scope, c.budget?.[scope])
  checkMcpServers(name, c.mcp)
  if (
    c.tools !== undefined &&
    (!Array.isArray(c.tools) || c.tools.some((t) => (t as { kind?: unknown }).kind !== 'flotilla.tool'))
  )
    invalid(name, 'tools must be a list of tools made by defineTool')
}
