import { FlotillaError } from '../core/errors.js'

/** Limits on what model calls may use. Every field is optional; none given: no limit. */
export interface Budget {
  /** Input plus output tokens. */
  tokens?: number
  /** US dollars, from the price table. */
  costUsd?: number
  /** Model calls. */
  calls?: number
}

/** What a meter has counted. */
export interface Spent {
  tokens: number
  costUsd: number
  calls: number
}

const MEASURES = ['tokens', 'costUsd', 'calls'] as const

/** Refuses a budget with a negative or non-numeric limit (`AGENT_INVALID`). */
export function checkBudget(agent: string, scope: string, budget: Budget | undefined): void {
  if (budget === undefined) return
  if (typeof budget !== 'object' || budget === null)
    throw new FlotillaError(
      'AGENT_INVALID',
      `Agent "${agent}": budget.${scope} must be an object { tokens?, costUsd?, calls? }.`,
      { details: { agent } },
    )
  for (const key of Object.keys(budget)) {
    const v = (budget as Record<string, unknown>)[key]
    if (!(MEASURES as readonly string[]).includes(key))
      throw new FlotillaError(
        'AGENT_INVALID',
        `Agent "${agent}": budget.${scope} has an unknown limit "${key}" (known: ${MEASURES.join(', ')}).`,
        { details: { agent } },
      )
    if (typeof v !== 'number' || !(v >= 0))
      throw new FlotillaError('AGENT_INVALID', `Agent "${agent}": budget.${scope}.${key} must be a number ≥ 0.`, {
        details: { agent },
      })
  }
}

/**
 * Counts what model calls spent against one {@link Budget}. A call is
 * checked **before** it is made, against its worst case (the prompt's
 * tokens plus the most the answer may have), and charged after with what it
 * really used. Crossing 80 % of a limit is reported once per measure.
 */
export class BudgetMeter {
  readonly spent: Spent = { tokens: 0, costUsd: 0, calls: 0 }
  private readonly warned = new Set<string>()

  constructor(
    readonly budget: Budget,
    /** `task`, `run` or `agent`: named in errors and warnings. */
    readonly scope: string,
  ) {}

  /** Throws `BUDGET_EXCEEDED` when a call costing up to `worst` would pass a limit. */
  check(agent: string, worst: { tokens: number; costUsd: number }): void {
    const after: Spent = {
      tokens: this.spent.tokens + worst.tokens,
      costUsd: this.spent.costUsd + worst.costUsd,
      calls: this.spent.calls + 1,
    }
    for (const m of MEASURES) {
      const limit = this.budget[m]
      if (limit === undefined || after[m] <= limit) continue
      const show = (n: number): string => (m === 'costUsd' ? `$${n.toFixed(4)}` : String(Math.ceil(n)))
      throw new FlotillaError(
        'BUDGET_EXCEEDED',
        `Agent "${agent}": the next model call could bring its ${this.scope} budget of ${show(limit)} ${m === 'costUsd' ? '' : `${m} `}to ${show(after[m])} (spent ${show(this.spent[m])}); no call was made. Raise budget.${this.scope}.${m} or shorten the prompt or maxTokens.`.replace(
          '  ',
          ' ',
        ),
        {
          details: { agent, scope: this.scope, measure: m, limit, spent: this.spent[m], worstCase: after[m] },
        },
      )
    }
  }

  /** Adds what a call used; returns the measures that just crossed 80 %. */
  charge(used: { tokens: number; costUsd: number }): { measure: string; spent: number; limit: number }[] {
    this.spent.tokens += used.tokens
    this.spent.costUsd += used.costUsd
    this.spent.calls += 1
    return this.crossed()
  }

  /** Sets what was spent (when it is counted elsewhere too, as a run's across workers); returns the measures that just crossed 80 %. */
  set(spent: Spent): { measure: string; spent: number; limit: number }[] {
    this.spent.tokens = spent.tokens
    this.spent.costUsd = spent.costUsd
    this.spent.calls = spent.calls
    return this.crossed()
  }

  private crossed(): { measure: string; spent: number; limit: number }[] {
    const crossed: { measure: string; spent: number; limit: number }[] = []
    for (const m of MEASURES) {
      const limit = this.budget[m]
      if (limit === undefined || this.warned.has(m) || this.spent[m] < 0.8 * limit) continue
      this.warned.add(m)
      crossed.push({ measure: m, spent: this.spent[m], limit })
    }
    return crossed
  }
}
