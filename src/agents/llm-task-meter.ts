import type { BudgetMeter } from '../models/budget.js'
import type { ModelCallHold, ModelMeter, StreamCallProgress } from '../models/metered-model.js'
import { costOf, type ModelPrice } from '../models/pricing.js'
import { totalTokens } from '../models/usage.js'
import type { AgentContext } from './context.js'
import type { RunAttempt } from './llm-run-budget.js'

/** What a task's model calls are charged to and reported as: made once per agent and model. */
export interface MeteredAs {
  readonly agent: string
  /** The model as reports and prices name it (`provider:model`). */
  readonly label: string
  readonly price: ModelPrice | undefined
}

/** The budgets one task of a language-model agent charges. */
export interface TaskBudgets {
  readonly task: BudgetMeter | undefined
  readonly agent: BudgetMeter | undefined
  readonly run: RunAttempt | undefined
  /** The meters a call is checked against before it is made (task, run, agent): empty without budgets. */
  readonly checked: readonly BudgetMeter[]
}

/**
 * The {@link ModelMeter} of one task of a language-model agent: its calls
 * are durable steps of the task, checked against its budgets before they
 * are made, charged and reported (`model.called`) after. A class rather
 * than a literal of closures: a task makes one object per model.
 */
export class TaskMeter implements ModelMeter {
  readonly full: boolean
  readonly stream: boolean
  readonly hold: ModelMeter['hold']

  constructor(
    private readonly ctx: AgentContext,
    private readonly as: MeteredAs,
    private readonly budgets: TaskBudgets,
    stream: boolean,
  ) {
    this.full = ctx.debug === true
    this.stream = stream
    this.hold = ctx.holdTreeBudget === undefined ? undefined : (w) => this.holdTree(w)
  }

  step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.ctx.step(name, fn)
  }

  progress(p: StreamCallProgress): void {
    this.ctx.progress(
      p.fraction,
      `model call ${p.index + 1}: ${p.text} characters${p.reasoning > 0 ? ` (thinking: ${p.reasoning})` : ''}${p.tail ? ` …${p.tail}` : ''}`,
    )
  }

  beforeCall(w: { inputTokens: number; outputTokens: number }): void {
    const meters = this.budgets.checked
    if (meters.length === 0) return
    const worst = {
      tokens: w.inputTokens + w.outputTokens,
      costUsd: costOf(
        { inputTokens: w.inputTokens, outputTokens: w.outputTokens, reasoningTokens: 0, cachedInputTokens: 0 },
        this.as.price,
      ),
    }
    for (const b of meters) b.check(this.as.agent, worst)
  }

  private async holdTree(w: { inputTokens: number; outputTokens: number }): Promise<ModelCallHold | undefined> {
    const price = this.as.price
    const usage = { inputTokens: w.inputTokens, outputTokens: w.outputTokens, reasoningTokens: 0, cachedInputTokens: 0 }
    const held = await this.ctx.holdTreeBudget!({
      tokens: w.inputTokens + w.outputTokens,
      costUsd: costOf(usage, price),
    })
    return (
      held && {
        settle: (u) => held.settle({ tokens: totalTokens(u), costUsd: costOf(u, price) }),
        release: () => held.release(),
      }
    )
  }

  private charge(b: BudgetMeter, used: { tokens: number; costUsd: number }): void {
    for (const crossed of b.charge(used))
      this.ctx.reportBudgetWarning({ agent: this.as.agent, scope: b.scope, ...crossed })
  }

  afterCall(c: Parameters<ModelMeter['afterCall']>[0]): void {
    const { ctx, as, budgets } = this
    const costUsd = costOf(c.usage, as.price)
    if (budgets.checked.length > 0) {
      const used = { tokens: totalTokens(c.usage), costUsd }
      // A replayed call was charged to the agent budget when it was made; the run's counts it once (RunSpend).
      if (budgets.task !== undefined) this.charge(budgets.task, used)
      if (budgets.agent !== undefined && !c.replayed) this.charge(budgets.agent, used)
      if (budgets.run !== undefined)
        for (const crossed of budgets.run.charge(used, c.replayed))
          ctx.reportBudgetWarning({ agent: as.agent, scope: 'run', ...crossed })
    }
    for (const w of c.warnings) ctx.log.warn('model warning', w)
    const event: Parameters<AgentContext['reportModelCall']>[0] = {
      agent: as.agent,
      model: as.label,
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
  }
}
