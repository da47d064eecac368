import { z } from 'zod'
import { expectPositionals, splitArgs, validateOptions } from './args.js'
import { COMMON_FLAGS, type Command } from './command.js'
import { prepareWorkflow } from './prepare.js'

const FLAGS = { ...COMMON_FLAGS, json: { type: 'boolean' } } as const

/** The options of `flotilla validate`, after validation. */
export const validateOptionsSchema = z.object({
  file: z.string({ error: 'missing; name the workflow file, as in "flotilla validate workflow.yaml"' }).min(1),
  json: z.boolean(),
  verbose: z.boolean(),
})

const HELP = `Usage: flotilla validate <workflow.yaml> [options]

Checks a workflow file without running it: the schema, task ids,
dependencies and references, cycles (the message names the cycle's path)
and, when the file names an agents module, that the module loads and that
every task's agent, fallback or capability is registered.

Options:
      --json      Print the outcome as JSON
      --verbose   Show error stacks
  -h, --help      Show this help

Exit code: 0 when the workflow is valid, 1 when it is not, 2 for a usage error.`

/** `flotilla validate <file>`: checks a workflow file and its agents. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check a workflow file (schema, references, cycles, agents)',
  help: HELP,
  flags: FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('validate', argv, FLAGS)
    const [file] = expectPositionals('validate', positionals, ['workflow.yaml'])
    const options = validateOptions('validate', validateOptionsSchema, { file, json: values.json === true, verbose: values.verbose === true })
    const prepared = await prepareWorkflow(options.file, { requireAgents: false })
    await prepared.orchestrator.close()
    const { workflow, agentsModule, agents } = prepared
    if (options.json) {
      io.out.write(`${JSON.stringify({ ok: true, file: options.file, workflow: workflow.name, tasks: workflow.tasks.length, agentsModule: agentsModule ?? null, agents }, null, 2)}\n`)
      return 0
    }
    const checked = agentsModule === undefined ? 'agents not checked: the workflow names no agents module' : `agents: ${agents.join(', ')}`
    io.out.write(`✓ ${options.file}: workflow "${workflow.name}", ${workflow.tasks.length} ${workflow.tasks.length === 1 ? 'task' : 'tasks'} (${checked})\n`)
    return 0
  },
}
