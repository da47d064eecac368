import { asAgentId } from '../core/ids.js'
import { FlotillaError } from '../core/errors.js'
import { AGENT_STATES, type AgentState } from '../core/states.js'
import { expectPositionals, splitArgs, usageError } from './args.js'
import { STORE_FLAGS, type Command } from './command.js'
import { formatDateTime, formatTable, paint, type Paint } from './format.js'
import { storeArg, withStore } from './runs-shared.js'
import { REMOTE_FLAGS, REMOTE_HELP, remoteOf } from './remote.js'
import type { CliIO } from './execute-run.js'
import { STORE_HELP } from './store-option.js'

const LIST_FLAGS = {
  ...STORE_FLAGS,
  ...REMOTE_FLAGS,
  state: { type: 'string', multiple: true },
  name: { type: 'string' },
} as const
const SHOW_FLAGS = { ...STORE_FLAGS, ...REMOTE_FLAGS } as const

/** What list and show print of an agent: a stored record, or the same fields from a server. */
interface AgentRow {
  id: string
  name: string
  version: string
  parentId: string | null
  runtime: string
  state: AgentState
  reason: string | null
  pid: number | null
  createdAt: number
  updatedAt: number
  permissions: unknown
  limits: unknown
}

function paintState(state: AgentState, p: Paint): string {
  if (state === 'RUNNING') return p.green(state)
  if (state === 'FAILED') return p.red(state)
  if (state === 'PAUSED' || state === 'PENDING') return p.yellow(state)
  return state
}

function parseStates(given: readonly string[]): AgentState[] | undefined {
  if (given.length === 0) return undefined
  const out: AgentState[] = []
  for (const part of given.flatMap((g) => g.split(','))) {
    const state = part.trim().toUpperCase()
    if (!(AGENT_STATES as readonly string[]).includes(state))
      throw usageError('agent list', `--state "${part}" is not an agent state; use ${AGENT_STATES.join(', ')}.`)
    if (!out.includes(state as AgentState)) out.push(state as AgentState)
  }
  return out
}

function recordJson(r: AgentRow): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    version: r.version,
    parentId: r.parentId,
    runtime: r.runtime,
    state: r.state,
    reason: r.reason,
    permissions: r.permissions,
    limits: r.limits,
    pid: r.pid,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  }
}

/** `flotilla agent list`: the stored deployed agents. */
export const agentListCommand: Command = {
  name: 'agent list',
  summary: 'List deployed agents stored in the store (--state, --name)',
  help: `Usage: flotilla agent list [options]

Lists the deployed agents recorded in the store, oldest first: id, name,
parent, runtime, state and why it is in that state.

Options:
      --state STATE       Only agents in this state: ${AGENT_STATES.join(', ')};
                          repeat, or separate with commas, for several
      --name NAME         Only agents with this name
      --json              Print the agents as a JSON array
${STORE_HELP}
${REMOTE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help

Examples:
  flotilla agent list --state RUNNING,FAILED
  flotilla agent list --server http://127.0.0.1:7400 --api-key flt_…`,
  flags: LIST_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('agent list', argv, LIST_FLAGS)
    expectPositionals('agent list', positionals, [])
    const states = parseStates((values.state as string[] | undefined) ?? [])
    const name = values.name as string | undefined
    const remote = remoteOf('agent list', values)
    if (remote !== undefined) {
      const { agents } = await remote.call((api) =>
        api.GET('/api/v1/deployed-agents', {
          params: { query: { ...(states ? { state: states.join(',') } : {}), ...(name ? { name } : {}) } },
        }),
      )
      return printList(io, values.json === true, agents, remote.url)
    }
    return withStore(values.store as string | undefined, async (orchestrator, store) =>
      printList(
        io,
        values.json === true,
        await orchestrator.store.listAgents({ ...(states ? { states } : {}), ...(name ? { name } : {}) }),
        store.label,
      ),
    )
  },
}

function printList(io: CliIO, json: boolean, agents: readonly AgentRow[], label: string): number {
  if (json) {
    io.out.write(`${JSON.stringify(agents.map(recordJson), null, 2)}\n`)
    return 0
  }
  if (agents.length === 0) {
    io.out.write(`No deployed agents in ${label}.\n`)
    return 0
  }
  const p = paint(io.out.isTTY === true)
  const rows = agents.map((a) => [
    a.id,
    a.name,
    a.parentId ?? '-',
    a.runtime,
    paintState(a.state, p),
    formatDateTime(a.updatedAt),
    a.reason ?? '',
  ])
  io.out.write(`${formatTable(['ID', 'NAME', 'PARENT', 'RUNTIME', 'STATE', 'SINCE', 'REASON'], rows)}\n`)
  return 0
}

/** `flotilla agent show <id>`: one stored agent and every lifecycle transition it went through. */
export const agentShowCommand: Command = {
  name: 'agent show',
  summary: 'Show a stored agent and its lifecycle transitions',
  help: `Usage: flotilla agent show <agent-id> [options]

Shows a deployed agent recorded in the store (name, parent, runtime, state,
permissions, limits) and every lifecycle transition, oldest first.

Options:
      --json              Print { agent, transitions } as JSON
${STORE_HELP}
${REMOTE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help`,
  flags: SHOW_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('agent show', argv, SHOW_FLAGS)
    const [id] = expectPositionals('agent show', positionals, ['agent-id'])
    if (id === undefined)
      throw usageError(
        'agent show',
        'Name the agent: flotilla agent show <agent-id> (ids are listed by flotilla agent list).',
      )
    const remote = remoteOf('agent show', values)
    if (remote !== undefined) {
      const path = { params: { path: { id } } }
      const agent = await remote.call((api) => api.GET('/api/v1/deployed-agents/{id}', path))
      const { transitions } = await remote.call((api) => api.GET('/api/v1/deployed-agents/{id}/transitions', path))
      return printAgent(io, values.json === true, agent, transitions)
    }
    return withStore(values.store as string | undefined, async (orchestrator, store) => {
      const agent = await orchestrator.store.getAgent(asAgentId(id))
      if (!agent) {
        throw new FlotillaError(
          'AGENT_NOT_FOUND',
          `No agent ${id} in ${store.label}; list them with flotilla agent list${storeArg(values.store as string | undefined)}.`,
          { details: { agent: id } },
        )
      }
      return printAgent(io, values.json === true, agent, await orchestrator.store.listAgentTransitions(asAgentId(id)))
    })
  },
}

function printAgent(
  io: CliIO,
  json: boolean,
  agent: AgentRow,
  transitions: readonly { seq: number; at: number; from: string | null; to: string; reason: string | null }[],
): number {
  if (json) {
    io.out.write(`${JSON.stringify({ agent: recordJson(agent), transitions }, null, 2)}\n`)
    return 0
  }
  const p = paint(io.out.isTTY === true)
  io.out.write(
    `${agent.name}@${agent.version} ${agent.id} ${paintState(agent.state, p)}${agent.reason ? ` (${agent.reason})` : ''}\n`,
  )
  io.out.write(
    `  parent ${agent.parentId ?? '-'} · runtime ${agent.runtime} · limits ${JSON.stringify(agent.limits)}\n`,
  )
  io.out.write(`  permissions ${JSON.stringify(agent.permissions)}\n`)
  const rows = transitions.map((t) => [String(t.seq), formatDateTime(t.at), t.from ?? '-', t.to, t.reason ?? ''])
  io.out.write(`${formatTable(['#', 'AT', 'FROM', 'TO', 'REASON'], rows)}\n`)
  return 0
}

const RECONCILE_FLAGS = { ...STORE_FLAGS, all: { type: 'boolean' } } as const

/** `flotilla agent reconcile`: fails the stored agents an orchestrator that is gone left running. */
export const agentReconcileCommand: Command = {
  name: 'agent reconcile',
  summary: 'Mark FAILED the stored agents a stopped orchestrator left running',
  help: `Usage: flotilla agent reconcile [--all] [options]

Marks FAILED (reason "orphaned: …") every agent recorded PENDING, RUNNING or
PAUSED whose process no longer exists on this host: an orchestrator that
died left it behind (its process agents exit with it). With --all, also every
other non-final agent, in-process ones included: use it only when no
orchestrator is running on this store.

Options:
      --all               Also fail in-process agents and agents without a pid
      --json              Print the agents failed as a JSON array
${STORE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help`,
  flags: RECONCILE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('agent reconcile', argv, RECONCILE_FLAGS)
    expectPositionals('agent reconcile', positionals, [])
    return withStore(values.store as string | undefined, async (orchestrator, store) => {
      const failed = await orchestrator.agents.reconcile({ all: values.all === true })
      if (values.json === true) {
        io.out.write(`${JSON.stringify(failed, null, 2)}\n`)
        return 0
      }
      if (failed.length === 0) io.out.write(`No orphaned agents in ${store.label}.\n`)
      for (const a of failed) io.out.write(`${a.id} ${a.name}: FAILED (${a.reason ?? ''})\n`)
      return 0
    })
  },
}
