import type { TokenUsage } from './usage.js'

/** What a model costs, in US dollars per million tokens. */
export interface ModelPrice {
  /** Per million prompt tokens not read from the cache. */
  input: number
  /** Per million completion tokens (reasoning included). */
  output: number
  /** Per million prompt tokens read from the cache. @default input */
  cachedInput?: number
}

/** The date the shipped price table was taken from the providers' price pages. */
export const PRICES_AS_OF = '2025-10-01'

/**
 * The shipped price table, by `provider:model` prefix (the longest matching
 * prefix wins, so `anthropic:claude-sonnet-4-20250514` is priced as
 * `anthropic:claude-sonnet-4`). Models of `openai-compatible` endpoints
 * (Ollama, vLLM…) cost 0 unless you price them. Prices change: pass your own
 * with the agent's `prices` option (merged over these).
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = Object.freeze({
  'openai:gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'openai:gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'openai:gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  'openai:gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'openai:gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'openai:gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'openai:gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'openai:gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  'openai:o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
  'openai:o3': { input: 2, cachedInput: 0.5, output: 8 },
  'anthropic:claude-opus-4': { input: 15, cachedInput: 1.5, output: 75 },
  'anthropic:claude-sonnet-4': { input: 3, cachedInput: 0.3, output: 15 },
  'anthropic:claude-haiku-4-5': { input: 1, cachedInput: 0.1, output: 5 },
  'anthropic:claude-3-7-sonnet': { input: 3, cachedInput: 0.3, output: 15 },
  'anthropic:claude-3-5-haiku': { input: 0.8, cachedInput: 0.08, output: 4 },
  'openai-compatible:': { input: 0, output: 0 },
})

/** The price of `model` (`provider:modelId`) from `table` (longest prefix), or `undefined` when it has none. */
export function priceOf(
  model: string,
  table: Readonly<Record<string, ModelPrice>> = DEFAULT_PRICES,
): ModelPrice | undefined {
  let best: string | undefined
  for (const k of Object.keys(table))
    if (model.startsWith(k) && (best === undefined || k.length > best.length)) best = k
  return best === undefined ? undefined : table[best]
}

/** The cost of `usage` at `price`, in US dollars; 0 without a price. */
export function costOf(usage: TokenUsage, price: ModelPrice | undefined): number {
  if (price === undefined) return 0
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens)
  const fresh = usage.inputTokens - cached
  return (
    (fresh * price.input + cached * (price.cachedInput ?? price.input) + usage.outputTokens * price.output) / 1_000_000
  )
}
