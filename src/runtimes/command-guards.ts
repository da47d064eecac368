/**
 * The refusals of the supervisor's commands that depend only on an agent's
 * record: a command to an agent that is not running (with what to do about
 * it), and to one that is terminated.
 */
import { FlotillaError } from '../core/errors.js'
import type { AgentRecord } from '../store/records.js'

/**
 * `AGENT_TERMINATED` for a terminated agent, else `AGENT_STATE_INVALID`
 * saying what to do first (resume it, restart it, or wait until it runs):
 * the error for a command sent to an agent that is not RUNNING.
 */
export function notRunningError(record: Pick<AgentRecord, 'id' | 'name' | 'state' | 'reason'>): FlotillaError {
  const { id, name, state } = record
  if (state === 'TERMINATED')
    return new FlotillaError('AGENT_TERMINATED', `Agent ${id} (${name}) is terminated; it takes no more commands.`, {
      details: { agent: id },
    })
  const hint =
    state === 'PAUSED'
      ? 'resume it first'
      : state === 'FAILED'
        ? `it failed (${record.reason ?? 'no reason'}): restart it`
        : 'wait until it is RUNNING'
  return new FlotillaError('AGENT_STATE_INVALID', `Agent ${id} (${name}) is ${state}; ${hint}.`, {
    details: { agent: id, state },
  })
}

/** `AGENT_TERMINATED` for an agent the supervisor terminated and forgot. */
export function terminatedError(agentId: string): FlotillaError {
  return new FlotillaError('AGENT_TERMINATED', `Agent ${agentId} is terminated; it takes no more commands.`, {
    details: { agent: agentId },
  })
}
