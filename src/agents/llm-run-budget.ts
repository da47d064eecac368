import type { ModelSpend } from '../core/model-spend.js'
import { BudgetMeter, type Budget, type Spent } from '../models/budget.js'
import type { StoredTaskSpend } from './context.js'

type Crossed = { measure: string; spent: number; limit: number }

const zero = (): Spent => ({ tokens: 0, costUsd: 0, calls: 0 })
const max = (a: Spent, b: Spent): Spent => ({
  tokens: Math.max(a.tokens, b.tokens),
  costUsd: Math.max(a.costUsd, b.costUsd),
  calls: Math.max(a.calls, b.calls),
})
const plus = (a: Spent, b: Spent): Spent => ({
  tokens: a.tokens + b.tokens,
  costUsd: a.costUsd + b.costUsd,
  calls: a.calls + b.calls,
})
const minus = (a: Spent, b: Spent): Spent => ({
  tokens: a.tokens - b.tokens,
  costUsd: a.costUsd - b.costUsd,
  calls: a.calls - b.calls,
})
const spentOf = (m: ModelSpend): Spent => ({
  tokens: m.inputTokens + m.outputTokens,
  costUsd: m.costUsd,
  calls: m.calls,
})

/** One attempt's share of a {@link RunSpend}: what it replayed and what it made. */
export interface RunAttempt {
  /** Counts a call of the attempt (a replayed one counts only where no stored result holds it yet); returns the measures that just crossed 80 %. */
  charge(used: { tokens: number; costUsd: number }, replayed: boolean): Crossed[]
}

/**
 * The run budget of one language-model agent in one run, as one process
 * counts it. Each task counts `max(stored, here)`: `stored` is the spend its
 * record held when a task of the run last started here (the records are read
 * again before each task's first call, so the spend of tasks other workers
 * finished is counted), `here` what this process saw the task spend (its
 * attempts' calls, over what the record held when the attempt started, as
 * the record will be written). Spend of tasks running elsewhere and not yet
 * stored is not seen: that is how far the budget can be passed.
 */
export class RunSpend {
  readonly meter: BudgetMeter
  private readonly stored = new Map<string, Spent>()
  private readonly here = new Map<string, Spent>()

  constructor(budget: Budget) {
    this.meter = new BudgetMeter(budget, 'run')
  }

  /** Takes the run's stored task spend (`undefined`: none could be read, keep counting this process's). */
  seed(records: readonly StoredTaskSpend[] | undefined, agent: string): Crossed[] {
    if (records === undefined) return []
    for (const r of records) {
      if (r.agent !== agent && r.agent?.startsWith(`${agent}@`) !== true) continue
      this.stored.set(r.taskId, spentOf(r.model))
    }
    let total = zero()
    for (const task of new Set([...this.stored.keys(), ...this.here.keys()])) total = plus(total, this.share(task))
    return this.meter.set(total)
  }

  /** Starts counting an attempt of `taskId` (after {@link RunSpend.seed}). */
  attempt(taskId: string): RunAttempt {
    const base = this.stored.get(taskId) ?? zero()
    let replayed = zero()
    let made = zero()
    return {
      charge: (used, wasReplayed) => {
        const call = { tokens: used.tokens, costUsd: used.costUsd, calls: 1 }
        if (wasReplayed) replayed = plus(replayed, call)
        else made = plus(made, call)
        const before = this.share(taskId)
        this.here.set(taskId, plus(max(base, replayed), made))
        return this.meter.set(plus(this.meter.spent, minus(this.share(taskId), before)))
      },
    }
  }

  private share(taskId: string): Spent {
    return max(this.stored.get(taskId) ?? zero(), this.here.get(taskId) ?? zero())
  }
}
