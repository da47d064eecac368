import { FlotillaError } from '../../core/errors.js'
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
  defineAgent({
    name: BUILTIN.collect,
    description: 'Returns its input: gathers upstream outputs for patterns.',
    handler: (input: unknown) => input,
  }),
  defineAgent({
    name: BUILTIN.compact,
    description: 'Drops the items of failed (skipped) tasks from a list.',
    handler: (input: { items: unknown[] }) => input.items.filter((x) => x !== undefined),
  }),
  defineAgent({
    name: BUILTIN.items,
    description: 'Checks the list a map-reduce maps over at run time.',
    handler: (input: { pattern: string; items: unknown; maxItems: number }) => {
      const { pattern, items, maxItems } = input
      if (!Array.isArray(items)) {
        const kind = items === null ? 'null' : typeof items
        throw new FlotillaError(
          'MAP_ITEMS_INVALID',
          `Map-reduce "${pattern}": items is ${kind === 'undefined' ? 'missing' : `a ${kind}`}, not a list; reference a list.`,
          { details: { pattern, kind }, retryable: false },
        )
      }
      if (items.length > maxItems) {
        throw new FlotillaError(
          'MAP_ITEMS_INVALID',
          `Map-reduce "${pattern}": the list has ${items.length} items, more than maxItems ${maxItems}; raise maxItems.`,
          { details: { pattern, length: items.length, maxItems }, retryable: false },
        )
      }
      return items
    },
  }),
  defineAgent({
    name: BUILTIN.consensus,
    description: 'Combines the answers of several voters (majority or weighted, quorum, tie rule).',
    handler: (input: { ballots: { agent: string; output: unknown }[]; options: TallyOptions }) =>
      tallyVotes(input.ballots, input.options),
  }),
]
