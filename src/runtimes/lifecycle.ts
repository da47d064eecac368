import { FlotillaError } from '../core/errors.js'
import type { AgentState } from '../core/states.js'

/** The allowed moves of the agent lifecycle state machine (DESIGN.md). */
const NEXT: Readonly<Record<AgentState, readonly AgentState[]>> = {
  PENDING: ['RUNNING', 'FAILED', 'TERMINATED'],
  RUNNING: ['PAUSED', 'FAILED', 'TERMINATED'],
  PAUSED: ['RUNNING', 'FAILED', 'TERMINATED'],
  FAILED: ['PENDING', 'TERMINATED'],
  TERMINATED: [],
}

/**
 * True when the lifecycle allows moving from `from` to `to`:
 * `PENDING → RUNNING ⇄ PAUSED`, `RUNNING → FAILED`, `FAILED → PENDING`
 * (restart), any → `TERMINATED` (final). A deployment that fails while
 * `PENDING`, and a paused process that dies, may also go to `FAILED`.
 *
 * @example
 * ```ts
 * canTransition('RUNNING', 'PAUSED') // true
 * canTransition('TERMINATED', 'RUNNING') // false
 * ```
 */
export function canTransition(from: AgentState, to: AgentState): boolean {
  return NEXT[from].includes(to)
}

/**
 * Throws `AGENT_STATE_INVALID` (or `AGENT_TERMINATED` from a terminated
 * agent) unless {@link canTransition}; `what` names the operation.
 */
export function assertTransition(agent: string, from: AgentState, to: AgentState, what: string): void {
  if (canTransition(from, to)) return
  if (from === 'TERMINATED') {
    throw new FlotillaError('AGENT_TERMINATED', `Agent ${agent} is terminated; it cannot ${what}. Deploy a new one.`, {
      details: { agent, state: from },
    })
  }
  const allowed = NEXT[from].join(', ')
  throw new FlotillaError(
    'AGENT_STATE_INVALID',
    `Agent ${agent} is ${from}; it cannot ${what} (from ${from} it may go to ${allowed}).`,
    {
      details: { agent, state: from, wanted: to },
    },
  )
}
