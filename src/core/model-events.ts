/**
 * What language-model agents report within a task: each model call with its
 * token usage and cost (`model.called`), and budgets nearly spent
 * (`budget.warning`). Both are run events, stored in the run's event log.
 */
import type { RunEventBase } from './event-base.js'
import type { TaskId } from './ids.js'

/** Tokens one model call (or a sum of calls) used. */
export interface TokenUsage {
  /** Prompt tokens, cached ones included. */
  inputTokens: number
  /** Completion tokens, reasoning included. */
  outputTokens: number
  /** Of `outputTokens`, those spent on reasoning (thinking). */
  reasoningTokens: number
  /** Of `inputTokens`, those read from the provider's prompt cache. */
  cachedInputTokens: number
}

/** What one model call of a language-model agent used and cost. */
export interface ModelCallReport {
  /** The agent that made the call. */
  agent: string
  /** `provider:modelId`. */
  model: string
  /** 0-based number of the call within the task (across its attempts). */
  call: number
  usage: TokenUsage
  /** US dollars, from the price table; 0 when the model has no price. */
  costUsd: number
  durationMs: number
  /** True when the answer came from the task's journal (a call finished by an earlier attempt): nothing was paid again. */
  replayed: boolean
  /** Why the model stopped: `stop`, `tool-calls`, `length`… */
  finishReason: string
  /** What the model answered: its reasoning, text and tool calls (long texts cut at 2,000 characters, except in debug mode). */
  answer?: ModelAnswerPart[]
  /** Debug mode only: the messages sent to the model (the conversation so far), as JSON. */
  prompt?: unknown[]
}

/** One part of a model's answer, as traces show it. */
export type ModelAnswerPart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'tool-call'; callId: string; tool: string; input: string }

/** A language-model agent made a model call (or replayed one from its journal). */
export interface ModelCalledEvent extends RunEventBase, ModelCallReport {
  type: 'model.called'
  taskId: TaskId
  attempt: number
}

/** A budget of a language-model agent is 80 % spent. */
export interface BudgetWarningEvent extends RunEventBase {
  type: 'budget.warning'
  taskId: TaskId
  agent: string
  /** Which budget: `task`, `run` or `agent`. */
  scope: string
  /** What is measured: `tokens`, `costUsd` or `calls`. */
  measure: string
  spent: number
  limit: number
}
