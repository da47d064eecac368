import type { Context } from 'hono'
import { FlotillaError } from '../core/errors.js'
import type { DeployedAgents } from '../orchestrator/deployed-agents.js'
import { AgentDirectory } from '../runtimes/agent-directory.js'
import type { AgentInfo } from '../runtimes/supervisor-types.js'
import type { AgentRecord } from '../store/records.js'
import type { AgentHost } from './agent-host.js'
import type { ServerDeps, ServerEnv } from './server-deps.js'

/**
 * Reads of deployed agents: the server's supervisor when it has one (its
 * agents as held in memory, the rest from the store), else the store. Either
 * way every agent stored by any process on the backend is seen.
 */
export function agentDirectory(deps: ServerDeps): AgentDirectory<{ record: AgentRecord }> {
  return deps.agents?.agents.supervisor ?? new AgentDirectory<{ record: AgentRecord }>(deps.client.store)
}

/** The agent host of the server, or `AGENT_HOST_DISABLED`. */
export function requireHost(c: Context<ServerEnv>): AgentHost {
  const host = c.get('deps').agents
  if (host === undefined)
    throw new FlotillaError(
      'AGENT_HOST_DISABLED',
      'This server deploys and governs no agents. Start it with an agent modules folder (flotilla serve --agent-modules DIR, or startServer({ agents: { modules } })) to deploy through the API.',
    )
  return host
}

/**
 * The agents a control call may act on: those this server holds. An agent
 * stored by another process is `AGENT_NOT_HELD` (409: control it where it was
 * deployed); a terminated one `AGENT_TERMINATED`; an unknown one `AGENT_NOT_FOUND`.
 * Returns the deployed agents and the agent's info.
 */
export async function heldAgent(
  c: Context<ServerEnv>,
  agentId: string,
): Promise<{ agents: DeployedAgents; info: AgentInfo }> {
  const deps = c.get('deps')
  const host = deps.agents
  if (host !== undefined && host.agents.supervisor.stateOf(agentId) !== undefined)
    return { agents: host.agents, info: await host.agents.status(agentId) }
  const info = await agentDirectory(deps).status(agentId) // AGENT_NOT_FOUND when no process stored it
  if (info.state === 'TERMINATED')
    throw new FlotillaError(
      'AGENT_TERMINATED',
      `Agent ${agentId} (${info.name}) is terminated; it takes no more commands.`,
      {
        details: { agent: agentId },
      },
    )
  throw new FlotillaError(
    'AGENT_NOT_HELD',
    host === undefined
      ? `Agent ${agentId} (${info.name}, ${info.state}) was deployed by another process on this store, and this server governs no agents: control it from the process that deployed it (its orchestrator, or the server it was deployed through).`
      : `Agent ${agentId} (${info.name}, ${info.state}) is governed by another process on this store, not by this server: control it from the process that deployed it (its orchestrator, or the server it was deployed through).`,
    { details: { agent: agentId, name: info.name, state: info.state, runtime: info.runtime } },
  )
}
