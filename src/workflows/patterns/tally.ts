import { FlotillaError } from '../../core/errors.js'

/** How votes are combined. */
export type ConsensusStrategy = 'majority' | 'weighted'

/** What to do when two answers tie for first place. */
export type TieRule = 'first' | 'fail'

/** One voter's answer as the tally sees it. */
export interface Vote {
  agent: string
  /** The answer; `undefined` when the voter did not answer (failed). */
  value: unknown
  /** In [0, 1]; 1 when the voter gave none. */
  confidence: number
  /** The weight this vote counted with. */
  weight: number
}

/** The outcome of a consensus vote. */
export interface ConsensusResult {
  decision: unknown
  /** Every distinct answer with its summed weight and voters, highest first. */
  tally: { value: unknown; weight: number; agents: string[] }[]
  /** Weight of the decision over the weight of every answer, in [0, 1]. */
  agreement: number
  votes: Vote[]
  quorum: { required: number; answered: number; total: number }
}

/** Options of {@link tallyVotes}. */
export interface TallyOptions {
  /** @default "majority" (every vote weighs 1) */
  strategy?: ConsensusStrategy
  /** Weights per agent for `weighted` (missing agents weigh 1). */
  weights?: Readonly<Record<string, number>>
  /** Multiply each weight by the answer's confidence. @default false */
  useConfidence?: boolean
  /** Fraction of voters that must answer, in (0, 1]. @default 0.5 */
  quorum?: number
  /** @default "first" (the tied answer of the earliest voter wins) */
  tie?: TieRule
}

/** Reads a voter's output: `{ answer, confidence? }`, or the output itself as the answer. */
export function readVote(output: unknown): { value: unknown; confidence: number } {
  if (output !== null && typeof output === 'object' && !Array.isArray(output) && 'answer' in output) {
    const o = output as { answer: unknown; confidence?: unknown }
    const c = typeof o.confidence === 'number' && o.confidence >= 0 && o.confidence <= 1 ? o.confidence : 1
    return { value: o.answer, confidence: c }
  }
  return { value: output, confidence: 1 }
}

const key = (v: unknown): string => JSON.stringify(v) ?? 'undefined'

/**
 * Combines the answers of several voters: each distinct answer (compared by
 * its JSON form) sums the weights of the voters who gave it; the heaviest
 * wins. With `weighted`, a voter weighs `weights[agent]` (default 1), times
 * its confidence when `useConfidence` is set.
 *
 * @example
 * ```ts
 * tallyVotes([{ agent: 'a', output: 'yes' }, { agent: 'b', output: 'no' }, { agent: 'c', output: 'yes' }])
 * // decision 'yes', agreement 2/3
 * ```
 */
export function tallyVotes(
  ballots: readonly { agent: string; output: unknown }[],
  options: TallyOptions = {},
): ConsensusResult {
  const { strategy = 'majority', weights = {}, useConfidence = false, quorum = 0.5, tie = 'first' } = options
  const total = ballots.length
  const votes: Vote[] = ballots.map(({ agent, output }) => {
    const { value, confidence } = readVote(output)
    const base = strategy === 'weighted' ? (weights[agent] ?? 1) : 1
    return { agent, value, confidence, weight: useConfidence ? base * confidence : base }
  })
  const answered = votes.filter((v) => v.value !== undefined)
  const required = Math.ceil(quorum * total - 1e-9)
  if (answered.length < required || answered.length === 0) {
    throw new FlotillaError(
      'CONSENSUS_NO_QUORUM',
      `Only ${answered.length} of ${total} voters answered; the quorum of ${quorum} needs ${required}.`,
      {
        details: { answered: answered.length, total, required },
        retryable: false,
      },
    )
  }
  const groups = new Map<string, { value: unknown; weight: number; agents: string[]; first: number }>()
  answered.forEach((v, i) => {
    const k = key(v.value)
    const g = groups.get(k) ?? { value: v.value, weight: 0, agents: [], first: i }
    g.weight += v.weight
    g.agents.push(v.agent)
    groups.set(k, g)
  })
  const tally = [...groups.values()].sort((a, b) => b.weight - a.weight || a.first - b.first)
  if (tally.length > 1 && tally[0].weight === tally[1].weight && tie === 'fail') {
    throw new FlotillaError(
      'CONSENSUS_TIE',
      `The vote is tied between ${key(tally[0].value)} and ${key(tally[1].value)} (weight ${tally[0].weight} each).`,
      {
        details: { weight: tally[0].weight },
        retryable: false,
      },
    )
  }
  const sum = tally.reduce((s, g) => s + g.weight, 0)
  return {
    decision: tally[0].value,
    tally: tally.map(({ value, weight, agents }) => ({ value, weight, agents })),
    agreement: sum > 0 ? tally[0].weight / sum : 0,
    votes,
    quorum: { required, answered: answered.length, total },
  }
}
