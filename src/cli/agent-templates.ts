import { resolve } from 'node:path'
import { templateInfo, type AgentTemplateInfo } from '../agents/agent-template.js'
import { FlotillaError } from '../core/errors.js'
import { expectPositionals, splitArgs, usageError } from './args.js'
import { importAgents } from './agents-module.js'
import { COMMON_FLAGS, type Command } from './command.js'
import type { CliIO } from './execute-run.js'
import { formatTable } from './format.js'
import { REMOTE_FLAGS, REMOTE_HELP, remoteOf } from './remote.js'

const FLAGS = {
  ...COMMON_FLAGS,
  ...REMOTE_FLAGS,
  agents: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const

/** A template as listed: its info, and the workers holding it when a server answered. */
type Row = AgentTemplateInfo & { workers?: string[] }

/** `flotilla agent templates`: the agent templates of agents modules, or of a server's live workers. */
export const agentTemplatesCommand: Command = {
  name: 'agent templates',
  summary: 'List agent templates (name, version, model, tools, permissions) of --agents modules or a --server',
  help: `Usage: flotilla agent templates (--agents MODULE… | --server URL) [options]

Lists the agent templates (defineAgentTemplate) that agents are spawned from
at run time: name, version, model, tools and permissions, and whether it is
a generic template (one standing in for specialties without a template).
With --agents, the templates the modules export; with --server, those the
server's live workers hold (GET /api/v1/agent-templates).

Options:
      --agents MODULE     An agents module (.mjs/.js) exporting templates;
                          repeat for several
      --json              Print the templates as a JSON array
${REMOTE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help

Examples:
  flotilla agent templates --agents examples/dynamic-research/agents.mjs
  flotilla agent templates --server http://127.0.0.1:7400 --api-key flt_…`,
  flags: FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('agent templates', argv, FLAGS)
    expectPositionals('agent templates', positionals, [])
    const modules = (values.agents as string[] | undefined) ?? []
    const remote = modules.length > 0 ? undefined : remoteOf('agent templates', values)
    if (remote !== undefined) {
      const { templates } = await remote.call((api) => api.GET('/api/v1/agent-templates'))
      return print(
        io,
        values.json === true,
        templates.map(({ description, ...t }) => ({ ...t, ...(description === null ? {} : { description }) })),
        remote.url,
      )
    }
    if (modules.length === 0)
      throw usageError(
        'agent templates',
        'Name where the templates are: --agents ./agents.mjs (a module exporting defineAgentTemplate results), or --server URL.',
      )
    const rows: Row[] = []
    for (const m of modules) {
      const path = resolve(m)
      const loaded = await importAgents(
        path,
        () =>
          new FlotillaError('FILE_NOT_FOUND', `No agents module at ${path}: check the --agents path.`, {
            details: { path },
          }),
      )
      for (const t of loaded.templates) rows.push(templateInfo(t))
    }
    rows.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version))
    return print(io, values.json === true, rows, modules.join(', '))
  },
}

function print(io: CliIO, json: boolean, rows: readonly Row[], source: string): number {
  if (json) {
    io.out.write(`${JSON.stringify(rows, null, 2)}\n`)
    return 0
  }
  if (rows.length === 0) {
    io.out.write(`No agent templates in ${source}.\n`)
    return 0
  }
  const table = rows.map((t) => [
    t.name,
    t.version,
    t.model,
    t.tools.join(', ') || '–',
    t.permissions.map((p) => `${p.resource} (${p.actions.join(',')})`).join('; ') || '(its own tools)',
    t.generic ? 'yes' : '',
  ])
  io.out.write(`${formatTable(['NAME', 'VERSION', 'MODEL', 'TOOLS', 'PERMISSIONS', 'GENERIC'], table)}\n`)
  return 0
}
