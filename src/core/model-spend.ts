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

/**
 * What a task's record holds after an attempt: `stored` is what the record
 * held before (the earlier attempts' spend), `calls` the attempt's
 * `model.called` reports. A call the attempt made is added; calls it replayed
 * from the journal were paid by an earlier attempt, which may or may not have
 * stored its result (a crash stores nothing), so each measure becomes
 * `max(stored, replayed) + made`: an earlier attempt's spend is never counted
 * twice, and the calls of one that crashed are counted once through their
 * replay. `replayed` adds the attempt's replayed calls. `undefined` when
 * neither the record nor the attempt has a call.
 *
 * @example
 * ```ts
 * taskSpendAfter(undefined, [{ usage: { inputTokens: 10, outputTokens: 5, reasoningTokens: 0, cachedInputTokens: 0 }, costUsd: 0.01, replayed: false }])
 * // { calls: 1, replayed: 0, inputTokens: 10, outputTokens: 5, reasoningTokens: 0, cachedInputTokens: 0, costUsd: 0.01 }
 * ```
 */
export function taskSpendAfter(
  stored: ModelSpend | undefined,
  calls: Iterable<Pick<ModelCallReport, 'usage' | 'costUsd' | 'replayed'>>,
): ModelSpend | undefined {
  const made = noSpend()
  let again: ModelSpend | undefined
  let spent = stored !== undefined
  for (const c of calls) {
    spent = true
    addModelCall(made, c)
    if (c.replayed) addModelCall((again ??= noSpend()), { ...c, replayed: false })
  }
  if (!spent) return undefined
  // The usual case, a first attempt that replayed nothing: what it made is the spend.
  if (stored === undefined && again === undefined) return made
  again ??= noSpend()
  const s = stored ?? noSpend()
  const merged = (k: Exclude<keyof ModelSpend, 'replayed'>): number => Math.max(s[k], again[k]) + made[k]
  return {
    calls: merged('calls'),
    replayed: s.replayed + made.replayed,
    inputTokens: merged('inputTokens'),
    outputTokens: merged('outputTokens'),
    reasoningTokens: merged('reasoningTokens'),
    cachedInputTokens: merged('cachedInputTokens'),
    costUsd: merged('costUsd'),
  }
}
