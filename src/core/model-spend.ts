import type { ModelCallReport } from './events.js'

/** What model calls used and cost, summed (a run's, an agent's). */
export interface ModelSpend {
  /** Model calls made. */
  calls: number
  /** Calls answered from a task's journal (made by an earlier attempt, not paid again); not in `calls`. */
  replayed: number
  inputTokens: number
  outputTokens: number
  reasoningTokens: number
  cachedInputTokens: number
  /** US dollars, from the price table. */
  costUsd: number
}

/** Nothing spent. */
export function noSpend(): ModelSpend {
  return {
    calls: 0,
    replayed: 0,
    inputTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    cachedInputTokens: 0,
    costUsd: 0,
  }
}

/** Adds one call to `spend` (in place): a replayed call counts as replayed, not as spent again. */
export function addModelCall(
  spend: ModelSpend,
  call: Pick<ModelCallReport, 'usage' | 'costUsd' | 'replayed'>,
): ModelSpend {
  if (call.replayed) {
    spend.replayed++
    return spend
  }
  spend.calls++
  spend.inputTokens += call.usage.inputTokens
  spend.outputTokens += call.usage.outputTokens
  spend.reasoningTokens += call.usage.reasoningTokens
  spend.cachedInputTokens += call.usage.cachedInputTokens
  spend.costUsd += call.costUsd
  return spend
}

/** The spend of a list of `model.called` events (or reports), in total and per agent. */
export function spendOf(calls: Iterable<ModelCallReport>): { total: ModelSpend; perAgent: Record<string, ModelSpend> } {
  const total = noSpend()
  const perAgent: Record<string, ModelSpend> = {}
  for (const c of calls) {
    addModelCall(total, c)
    addModelCall((perAgent[c.agent] ??= noSpend()), c)
  }
  return { total, perAgent }
}
