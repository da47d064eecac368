/**
 * Model budgets of agent trees, as the supervisor holds them. An agent
 * deployed with `budget.tree` has a limit in tokens, dollars and/or model
 * calls for itself and its whole subtree. A child that asks for one has it
 * carved out of what its nearest budgeted ancestor has left (reserved at
 * spawn, `BUDGET_EXCEEDED` when there is not enough); a child that asks for
 * none draws on its ancestors' budget directly. Every model call of an agent
 * in a budgeted tree is held against its worst case before it is made, then
 * settled at what it used; when a child ends, what it did not spend of its
 * reservation returns to its parent. Each measure is counted on its own: a
 * child that limits only tokens still draws its calls from its parent.
 */
import { FlotillaError } from '../core/errors.js'
import type { Budget } from '../models/budget.js'

const MEASURES = ['tokens', 'costUsd', 'calls'] as const
type Measure = (typeof MEASURES)[number]
type Amounts = Record<Measure, number>

const zero = (): Amounts => ({ tokens: 0, costUsd: 0, calls: 0 })

/** One measure of a budgeted agent's tree budget, as {@link TreeBudgets.state} reports it. */
export interface TreeBudgetMeasure {
  /** The limit (`budget.tree` of the agent's spec). */
  readonly limit: number
  /** Spent by the agent and by the descendants drawing on it, plus what ended children spent. */
  readonly spent: number
  /** Reserved for live children with their own budget (what they may still spend is theirs). */
  readonly reserved: number
  /** Worst cases of the calls in flight. */
  readonly held: number
  /** What is left: limit − spent − reserved − held. */
  readonly left: number
}

/** The tree budget of one agent: the measures it limits. */
export type TreeBudgetState = Readonly<Partial<Record<Measure, TreeBudgetMeasure>>>

/** A measure of a tree budget that just reached 80 % (spent and reserved). */
export interface TreeBudgetCrossing {
  /** The agent whose budget it is. */
  readonly agentId: string
  readonly name: string
  readonly measure: Measure
  /** Spent and reserved. */
  readonly spent: number
  readonly limit: number
}

interface Node {
  readonly id: string
  readonly name: string
  readonly parent: Node | undefined
  readonly limit: Partial<Amounts>
  readonly spent: Amounts
  readonly reserved: Amounts
  readonly held: Amounts
  readonly warned: Set<Measure>
}

interface Hold {
  readonly agent: Node
  readonly worst: Amounts
}

const showAmount = (m: Measure, n: number): string => (m === 'costUsd' ? `$${n.toFixed(4)}` : String(Math.ceil(n)))
const unit = (m: Measure): string => (m === 'costUsd' ? '' : ` ${m}`)

/**
 * The tree budget of a deployment's `budget` (`{ tree?: { tokens?, costUsd?,
 * calls? } }`, each a number ≥ 0); `AGENT_SPEC_INVALID` naming the field
 * otherwise.
 */
export function parseTreeBudget(budget: unknown, agent: string): Budget | undefined {
  if (budget === undefined || budget === null) return undefined
  if (typeof budget !== 'object' || Array.isArray(budget) || Object.keys(budget).some((k) => k !== 'tree'))
    throw new FlotillaError('AGENT_SPEC_INVALID', `Agent "${agent}": budget must be an object { tree? }.`, {
      details: { agent, field: 'budget' },
    })
  const value = (budget as { tree?: unknown }).tree
  if (value === undefined || value === null) return undefined
  const fail = (what: string): never => {
    throw new FlotillaError('AGENT_SPEC_INVALID', `Agent "${agent}": budget.tree${what}.`, {
      details: { agent, field: 'budget.tree' },
    })
  }
  if (typeof value !== 'object' || Array.isArray(value)) fail(' must be an object { tokens?, costUsd?, calls? }')
  const out: { -readonly [K in Measure]?: number } = {}
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!(MEASURES as readonly string[]).includes(key))
      fail(` has an unknown limit "${key}" (known: ${MEASURES.join(', ')})`)
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`.${key} must be a number ≥ 0`)
    out[key as Measure] = v as number
  }
  return out
}

/**
 * The tree budgets of one supervisor's agents. Only agents in a budgeted
 * tree (with `budget.tree`, or below an agent with one) are held here.
 */
export class TreeBudgets {
  private readonly nodes = new Map<string, Node>()
  private readonly holds = new Map<string, Hold>()
  private seq = 0

  constructor(private readonly onCrossed: (crossing: TreeBudgetCrossing) => void = () => undefined) {}

  /**
   * Enters an agent being deployed: with its own `budget`, reserved from its
   * nearest budgeted ancestor (`BUDGET_EXCEEDED` when that has not enough
   * left); without one, drawing on its ancestors'. An agent with no budget
   * and no budgeted ancestor is not held.
   */
  open(id: string, name: string, parentId: string | undefined, budget: Budget | undefined): void {
    const parent = parentId === undefined ? undefined : this.nodes.get(parentId)
    const limit = budget ?? {}
    const measures = MEASURES.filter((m) => limit[m] !== undefined)
    if (parent === undefined && measures.length === 0) return
    const node: Node = {
      id,
      name,
      parent,
      limit: { ...limit },
      spent: zero(),
      reserved: zero(),
      held: zero(),
      warned: new Set(),
    }
    if (parent !== undefined) {
      const asked = zero()
      for (const m of measures) asked[m] = limit[m]!
      for (const m of measures) {
        const holder = owner(parent, m)
        if (holder === undefined) continue
        const left = leftOf(holder, m)
        if (asked[m] > left)
          throw new FlotillaError(
            'BUDGET_EXCEEDED',
            `Child "${name}" asks for a tree budget of ${showAmount(m, asked[m])}${unit(m)}, but ${holder === parent ? 'its parent' : 'its ancestor'} "${holder.name}" has ${showAmount(m, left)} left (limit ${showAmount(m, holder.limit[m]!)}, spent ${showAmount(m, holder.spent[m])}, reserved for other children ${showAmount(m, holder.reserved[m])}); ask for at most what is left, or leave budget.tree.${m} out to draw on the parent's.`,
            {
              details: { agent: name, scope: 'tree', measure: m, asked: asked[m], left, budgetOf: holder.id },
            },
          )
      }
      for (const m of measures) this.add(parent, 'reserved', m, asked[m])
    }
    this.nodes.set(id, node)
  }

  /**
   * The agent ended (terminated, or never started): what it and its
   * subtree spent stays charged to its ancestors; the rest of its
   * reservation returns to them. Its children must have ended first.
   */
  close(id: string): void {
    const node = this.nodes.get(id)
    if (node === undefined) return
    this.nodes.delete(id)
    for (const [holdId, hold] of this.holds) if (hold.agent === node) this.holds.delete(holdId)
    const parent = node.parent
    if (parent === undefined) return
    for (const m of MEASURES) {
      const limit = node.limit[m]
      if (limit === undefined) continue
      // In-flight calls count at their worst case: they may still have been paid for.
      const used = node.spent[m] + node.held[m] + node.reserved[m]
      this.add(parent, 'reserved', m, -limit)
      this.add(parent, 'spent', m, used)
    }
  }

  /** True when the agent's model calls are held against a tree budget. */
  has(id: string): boolean {
    return this.nodes.has(id)
  }

  /** The agent's own tree budget (the measures it limits), or `undefined` when it has none. */
  state(id: string): TreeBudgetState | undefined {
    const node = this.nodes.get(id)
    if (node === undefined) return undefined
    const out: Partial<Record<Measure, TreeBudgetMeasure>> = {}
    for (const m of MEASURES) {
      const limit = node.limit[m]
      if (limit === undefined) continue
      out[m] = { limit, spent: node.spent[m], reserved: node.reserved[m], held: node.held[m], left: leftOf(node, m) }
    }
    return Object.keys(out).length === 0 ? undefined : out
  }

  /**
   * What agent `id` may still spend, per measure of the budgets it draws on
   * (its own, or its nearest ancestor's that limits the measure); `undefined`
   * when it is in no budgeted tree.
   */
  left(id: string): Budget | undefined {
    const node = this.nodes.get(id)
    if (node === undefined) return undefined
    const out: { -readonly [K in Measure]?: number } = {}
    for (const m of MEASURES) {
      const holder = owner(node, m)
      if (holder !== undefined) out[m] = Math.max(0, leftOf(holder, m))
    }
    return Object.keys(out).length === 0 ? undefined : out
  }

  /**
   * Charges what was spent on agent `id`'s behalf outside its own calls (an
   * agent it spawned from a template) to every budget it draws on. Unknown
   * agents are ignored.
   */
  charge(id: string, used: { tokens: number; costUsd: number; calls: number }): void {
    const node = this.nodes.get(id)
    if (node === undefined) return
    for (const m of MEASURES) if (used[m] > 0) this.add(node, 'spent', m, used[m])
  }

  /**
   * Holds a model call of agent `id` costing up to `worst` (one call) against
   * every budget it draws on; `BUDGET_EXCEEDED` when one has not that much
   * left. Returns the hold's id, or `null` when the agent is in no budgeted tree.
   */
  hold(id: string, agent: string, worst: { tokens: number; costUsd: number }): string | null {
    const node = this.nodes.get(id)
    if (node === undefined) return null
    const amounts: Amounts = { tokens: worst.tokens, costUsd: worst.costUsd, calls: 1 }
    for (const m of MEASURES) {
      const holder = owner(node, m)
      if (holder === undefined) continue
      const left = leftOf(holder, m)
      if (amounts[m] <= left) continue
      const limit = holder.limit[m]!
      const whose = holder === node ? 'its' : `"${holder.name}"'s`
      throw new FlotillaError(
        'BUDGET_EXCEEDED',
        `Agent "${agent}": the next model call could take up to ${showAmount(m, amounts[m])}${unit(m)}, more than the ${showAmount(m, left)} left of ${whose} tree budget of ${showAmount(m, limit)}${unit(m)} (spent ${showAmount(m, holder.spent[m])}, reserved for children ${showAmount(m, holder.reserved[m])}, in flight ${showAmount(m, holder.held[m])}); no call was made. Raise budget.tree.${m} of "${holder.name}", or shorten the prompt or maxTokens.`,
        {
          details: {
            agent,
            scope: 'tree',
            measure: m,
            limit,
            spent: holder.spent[m],
            reserved: holder.reserved[m],
            worstCase: amounts[m],
            budgetOf: holder.id,
          },
        },
      )
    }
    for (const m of MEASURES) this.add(node, 'held', m, amounts[m])
    const holdId = `h${++this.seq}`
    this.holds.set(holdId, { agent: node, worst: amounts })
    return holdId
  }

  /** Ends a hold: the call used `used` (charged up the tree), or, without `used`, was not paid for. Unknown holds are ignored. */
  settle(holdId: string, used?: { tokens: number; costUsd: number }): void {
    const hold = this.holds.get(holdId)
    if (hold === undefined) return
    this.holds.delete(holdId)
    for (const m of MEASURES) this.add(hold.agent, 'held', m, -hold.worst[m])
    if (used === undefined) return
    const amounts: Amounts = { tokens: used.tokens, costUsd: used.costUsd, calls: 1 }
    for (const m of MEASURES) this.add(hold.agent, 'spent', m, amounts[m])
  }

  /** Adds `n` of measure `m` to `what` of `node`, and of each ancestor up to the first that limits `m`. */
  private add(node: Node, what: 'spent' | 'reserved' | 'held', m: Measure, n: number): void {
    for (let at: Node | undefined = node; at !== undefined; at = at.parent) {
      at[what][m] += n
      if (at.limit[m] === undefined) continue
      if (what !== 'held') this.warn(at, m)
      return
    }
  }

  private warn(node: Node, m: Measure): void {
    const limit = node.limit[m]!
    const used = node.spent[m] + node.reserved[m]
    if (node.warned.has(m) || used < 0.8 * limit || limit === 0) return
    node.warned.add(m)
    this.onCrossed({ agentId: node.id, name: node.name, measure: m, spent: used, limit })
  }
}

/**
 * Answers an agent's `budget.hold` or `budget.settle` service call from
 * `budgets` (the arguments come from the agent: checked here).
 */
export function serveBudgetCall(
  budgets: TreeBudgets,
  agentId: string,
  name: string,
  op: 'budget.hold' | 'budget.settle',
  args: Record<string, unknown>,
): { id: string } | null {
  if (op === 'budget.hold') return budgets.has(agentId) ? { id: budgets.hold(agentId, name, amounts(op, args))! } : null
  if (typeof args.id !== 'string') throw badArgs(op, 'id must be the string budget.hold gave')
  const used = args.used
  budgets.settle(
    args.id,
    used === undefined
      ? undefined
      : amounts(op, typeof used === 'object' && used !== null ? (used as Record<string, unknown>) : {}),
  )
  return null
}

function badArgs(op: string, what: string): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', `The ${op} service call is malformed: ${what}.`, {
    details: { field: op },
  })
}

/** Tokens and dollars of a budget call: each a finite number ≥ 0. */
function amounts(op: string, a: Record<string, unknown>): { tokens: number; costUsd: number } {
  const { tokens, costUsd } = a
  for (const [k, v] of [
    ['tokens', tokens],
    ['costUsd', costUsd],
  ] as const)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw badArgs(op, `${k} must be a number ≥ 0`)
  return { tokens: tokens as number, costUsd: costUsd as number }
}

/** The budget measure `m` of `node` draws on: its own, or its nearest ancestor's that limits `m`. */
function owner(node: Node, m: Measure): Node | undefined {
  for (let at: Node | undefined = node; at !== undefined; at = at.parent) if (at.limit[m] !== undefined) return at
  return undefined
}

function leftOf(node: Node, m: Measure): number {
  return node.limit[m]! - node.spent[m] - node.reserved[m] - node.held[m]
}
