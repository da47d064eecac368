import { describe, expect, it } from 'vitest'
import { tallyVotes } from '../../../src/workflows/patterns/tally.js'

const ballots = (...outputs: unknown[]) => outputs.map((output, i) => ({ agent: `a${i}`, output }))

describe('tallyVotes', () => {
  it('decides by simple majority, comparing answers by their JSON form', () => {
    const r = tallyVotes(ballots({ k: 'yes' }, { k: 'no' }, { k: 'yes' }))
    expect(r.decision).toEqual({ k: 'yes' })
    expect(r.agreement).toBeCloseTo(2 / 3)
    expect(r.tally).toEqual([
      { value: { k: 'yes' }, weight: 2, agents: ['a0', 'a2'] },
      { value: { k: 'no' }, weight: 1, agents: ['a1'] },
    ])
    expect(r.votes.map((v) => v.agent)).toEqual(['a0', 'a1', 'a2'])
  })

  it('weights votes per agent, optionally times the confidence of each answer', () => {
    const b = ballots(
      { answer: 'A', confidence: 0.2 },
      { answer: 'B', confidence: 0.9 },
      { answer: 'A', confidence: 0.3 },
    )
    expect(tallyVotes(b, { strategy: 'weighted', weights: { a1: 1.5 } }).decision).toBe('A') // 2 vs 1.5
    const withConfidence = tallyVotes(b, { strategy: 'weighted', weights: { a1: 1.5 }, useConfidence: true })
    expect(withConfidence.decision).toBe('B') // 0.5 vs 1.35
    expect(withConfidence.agreement).toBeCloseTo(1.35 / 1.85)
  })

  it('counts only voters that answered and enforces the quorum with CONSENSUS_NO_QUORUM', () => {
    expect(tallyVotes(ballots('x', undefined, 'x'), { quorum: 0.6 }).quorum).toEqual({
      required: 2,
      answered: 2,
      total: 3,
    })
    expect(() => tallyVotes(ballots('x', undefined, undefined), { quorum: 0.6 })).toThrow(
      expect.objectContaining({ code: 'CONSENSUS_NO_QUORUM', retryable: false }),
    )
    expect(() => tallyVotes(ballots(undefined, undefined))).toThrow(
      expect.objectContaining({ code: 'CONSENSUS_NO_QUORUM' }),
    )
  })

  it('breaks ties by the earliest voter, or fails with CONSENSUS_TIE', () => {
    expect(tallyVotes(ballots('b', 'a')).decision).toBe('b')
    expect(() => tallyVotes(ballots('b', 'a'), { tie: 'fail' })).toThrow(
      expect.objectContaining({ code: 'CONSENSUS_TIE' }),
    )
  })
})
