import { describe, expect, it } from 'vitest'
import { isFlotillaError } from '../../src/core/errors.js'
import { serveBudgetCall, TreeBudgets, type TreeBudgetCrossing } from '../../src/runtimes/tree-budget.js'

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (e) {
    return isFlotillaError(e) ? e.code : 'not a FlotillaError'
  }
  return undefined
}

describe('TreeBudgets', () => {
  it('carves a grandchild through an unbudgeted parent from the budgeted root', () => {
    const b = new TreeBudgets()
    b.open('root', 'root', undefined, { tokens: 1000 })
    b.open('mid', 'mid', 'root', undefined)
    b.open('leaf', 'leaf', 'mid', { tokens: 600 })
    expect(b.state('root')?.tokens).toEqual({ limit: 1000, spent: 0, reserved: 600, held: 0, left: 400 })
    expect(code(() => b.open('other', 'other', 'mid', { tokens: 401 }))).toBe('BUDGET_EXCEEDED')
    // mid draws on the root directly: its calls count there, the leaf's within its own 600.
    b.settle(b.hold('mid', 'mid', { tokens: 300, costUsd: 0 })!, { tokens: 250, costUsd: 0 })
    b.settle(b.hold('leaf', 'leaf', { tokens: 500, costUsd: 0 })!, { tokens: 100, costUsd: 0 })
    expect(b.state('root')?.tokens).toMatchObject({ spent: 250, reserved: 600, left: 150 })
    expect(b.state('leaf')?.tokens).toMatchObject({ spent: 100, left: 500 })
    b.close('leaf')
    expect(b.state('root')?.tokens).toEqual({ limit: 1000, spent: 350, reserved: 0, held: 0, left: 650 })
  })

  it('counts calls in flight at their worst case, so concurrent calls cannot pass the budget together', () => {
    const b = new TreeBudgets()
    b.open('a', 'a', undefined, { tokens: 100 })
    const first = b.hold('a', 'a', { tokens: 60, costUsd: 0 })!
    expect(code(() => b.hold('a', 'a', { tokens: 60, costUsd: 0 }))).toBe('BUDGET_EXCEEDED')
    b.settle(first) // failed, not paid: given back
    expect(b.state('a')?.tokens).toMatchObject({ spent: 0, held: 0, left: 100 })
    b.hold('a', 'a', { tokens: 60, costUsd: 0 })
    b.close('a')
    expect(b.state('a')).toBeUndefined()
  })

  it('keeps measures apart, warns once at 80 % of spent and reserved, and ignores agents outside budgeted trees', () => {
    const crossed: TreeBudgetCrossing[] = []
    const b = new TreeBudgets((c) => crossed.push(c))
    b.open('free', 'free', undefined, undefined)
    expect(b.has('free')).toBe(false)
    expect(b.hold('free', 'free', { tokens: 1e9, costUsd: 1e9 })).toBeNull()
    b.open('root', 'root', undefined, { costUsd: 1, calls: 5 })
    b.open('kid', 'kid', 'root', { costUsd: 0.5 })
    for (let i = 0; i < 3; i++)
      b.settle(b.hold('kid', 'kid', { tokens: 10, costUsd: 0.1 })!, { tokens: 5, costUsd: 0.05 })
    expect(crossed).toEqual([])
    b.settle(b.hold('kid', 'kid', { tokens: 10, costUsd: 0.1 })!, { tokens: 5, costUsd: 0.05 })
    expect(crossed).toEqual([{ agentId: 'root', name: 'root', measure: 'calls', spent: 4, limit: 5 }])
    b.settle(b.hold('root', 'root', { tokens: 10, costUsd: 0.1 })!, { tokens: 5, costUsd: 0.05 })
    expect(code(() => b.hold('kid', 'kid', { tokens: 1, costUsd: 0 }))).toBe('BUDGET_EXCEEDED') // calls: 5 of 5
    expect(crossed).toHaveLength(1)
  })

  it('checks the arguments of the service calls an agent makes', () => {
    const b = new TreeBudgets()
    b.open('a', 'a', undefined, { calls: 1 })
    expect(code(() => serveBudgetCall(b, 'a', 'a', 'budget.hold', { tokens: -1, costUsd: 0 }))).toBe(
      'VALIDATION_FAILED',
    )
    expect(code(() => serveBudgetCall(b, 'a', 'a', 'budget.settle', {}))).toBe('VALIDATION_FAILED')
    const held = serveBudgetCall(b, 'a', 'a', 'budget.hold', { tokens: 1, costUsd: 0 })
    expect(held).toEqual({ id: expect.any(String) })
    expect(serveBudgetCall(b, 'a', 'a', 'budget.settle', { id: held!.id, used: { tokens: 1, costUsd: 0 } })).toBeNull()
    expect(serveBudgetCall(b, 'b', 'b', 'budget.hold', { tokens: 1, costUsd: 0 })).toBeNull()
  })
})
