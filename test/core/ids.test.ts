import { describe, expect, it } from 'vitest'
import { asAgentId, asRunId, asTaskId, newAgentId, newRunId } from '../../src/core/ids.js'

describe('ids', () => {
  it('gives 10,000 distinct run ids', () => {
    const ids = Array.from({ length: 10_000 }, () => newRunId())
    expect(new Set(ids).size).toBe(10_000)
  })

  it('gives 10,000 distinct agent ids', () => {
    const ids = Array.from({ length: 10_000 }, () => newAgentId())
    expect(new Set(ids).size).toBe(10_000)
  })

  it('prefixes run ids with run_ and agent ids with agt_, followed by lowercase base-36', () => {
    for (let i = 0; i < 100; i++) {
      expect(newRunId()).toMatch(/^run_[0-9a-z]{18,}$/)
      expect(newAgentId()).toMatch(/^agt_[0-9a-z]{18,}$/)
    }
  })

  it('generates ids that sort in creation order', () => {
    const ids = Array.from({ length: 2_000 }, () => newRunId())
    expect([...ids].sort()).toEqual(ids)
  })

  it('brands strings without changing them', () => {
    expect(asRunId('run_x')).toBe('run_x')
    expect(asTaskId('fetch')).toBe('fetch')
    expect(asAgentId('agt_y')).toBe('agt_y')
  })
})
