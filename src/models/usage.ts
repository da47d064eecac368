import type { LanguageModelV3Usage } from '@ai-sdk/provider'
import type { TokenUsage } from '../core/events.js'

export type { TokenUsage }

/** No tokens. */
export function zeroUsage(): TokenUsage {
  return { inputTokens: 0, outputTokens: 0, reasoningTokens: 0, cachedInputTokens: 0 }
}

/** The usage of one AI SDK model call, missing figures as 0. */
export function usageOf(usage: LanguageModelV3Usage | undefined): TokenUsage {
  return {
    inputTokens: usage?.inputTokens.total ?? 0,
    outputTokens: usage?.outputTokens.total ?? 0,
    reasoningTokens: usage?.outputTokens.reasoning ?? 0,
    cachedInputTokens: usage?.inputTokens.cacheRead ?? 0,
  }
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  a.inputTokens += b.inputTokens
  a.outputTokens += b.outputTokens
  a.reasoningTokens += b.reasoningTokens
  a.cachedInputTokens += b.cachedInputTokens
  return a
}

/** Input plus output tokens. */
export function totalTokens(u: TokenUsage): number {
  return u.inputTokens + u.outputTokens
}
