import { defineAgent, type AnyAgentDefinition } from '../../agents/define-agent.js'
import { BUILTIN } from './expand.js'
import { tallyVotes, type TallyOptions } from './tally.js'

/**
 * The agents patterns compile to. Every Orchestrator registers them:
 * `flotilla.collect` returns its input (the template gathers upstream
 * outputs), `flotilla.compact` drops missing items from a list, and
 * `flotilla.consensus` tallies votes ({@link tallyVotes}).
 */
export const BUILTIN_AGENTS: readonly AnyAgentDefinition[] = [
  defineAgent({ name: BUILTIN.collect, description: 'Returns its input: gathers upstream outputs for patterns.', handler: (input: unknown) => input }),
  defineAgent({
    name: BUILTIN.compact,
    description: 'Drops the items of failed (skipped) tasks from a list.',
    handler: (input: { items: unknown[] }) => input.items.filter((x) => x !== undefined),
  }),
  defineAgent({
    name: BUILTIN.consensus,
    description: 'Combines the answers of several voters (majority or weighted, quorum, tie rule).',
    handler: (input: { ballots: { agent: string; output: unknown }[]; options: TallyOptions }) => tallyVotes(input.ballots, input.options),
  }),
]
