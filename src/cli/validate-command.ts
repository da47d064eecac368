import { z } from 'zod'
import { expectPositionals, splitArgs, validateOptions } from './args.js'
import { COMMON_FLAGS, type Command } from './command.js'
import { toFlotillaError } from '../core/errors.js'
import { Orchestrator } from '../orchestrator/orchestrator.js'
import { MemoryStore } from '../store/memory/memory-store.js'
import { compileWorkflow, validateWorkflowSpec } from '../workflows/compile.js'
import { readWorkflowData } from '../workflows/load.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { loadAgentsModule } from './agents-module.js'
import { literalInputProblems, readableTasks, unknownAgentProblems } from './validate-checks.js'

const FLAGS = { ...COMMON_FLAGS, json: { type: 'boolean' } } as const

/** The options of `flotilla validate`, after validation. */
export const validateOptionsSchema = z.object({
  file: z.string({ error: 'missing; name the workflow file, as in "flotilla validate workflow.yaml"' }).min(1),
  json: z.boolean(),
  verbose: z.boolean(),
})

const HELP = `Usage: flotilla validate <workflow.yaml> [options]

Checks a workflow file without running it and reports every problem at
once: the schema (with "did you mean" for a misspelt key), task ids,
dependencies and references, conditions, version ranges and cycles (each
named by its path). When the file names an agents module, it also checks
that the module loads, that every task's agent, fallback or capability is
registered, and the literal parts of each task's input against its
agent's input schema.

Options:
      --json      Print the outcome as JSON: { ok, file, workflow, tasks,
                  agentsModule, agents } or { ok: false, file, problems }
      --verbose   Show error stacks
  -h, --help      Show this help

Exit code: 0 when the workflow is valid, 1 when it is not, 2 for a usage error.`

/** `flotilla validate <file>`: checks a workflow file and its agents, reporting every problem. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check a workflow file (schema, references, cycles, agents, inputs): every problem at once',
  help: HELP,
  flags: FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('validate', argv, FLAGS)
    const [file] = expectPositionals('validate', positionals, ['workflow.yaml'])
    const options = validateOptions('validate', validateOptionsSchema, {
      file,
      json: values.json === true,
      verbose: values.verbose === true,
    })
    // A file that cannot be read or parsed is one problem, reported as an error.
    const data = await readWorkflowData(options.file)
    const problems = validateWorkflowSpec(data).map((p) => ({ ...p, message: `${options.file}: ${p.message}` }))
    const name = typeof data.name === 'string' ? data.name : '(unnamed)'
    const specifier = typeof data.agents === 'string' ? data.agents : undefined
    let agentsModule: string | undefined
    const agents: string[] = []
    if (specifier !== undefined) {
      const orchestrator = new Orchestrator({ store: new MemoryStore() })
      try {
        const loaded = await loadAgentsModule(options.file, specifier)
        agentsModule = loaded.path
        for (const def of loaded.definitions) {
          await orchestrator.register(def)
          agents.push(`${def.name}@${def.version}`)
        }
        const tasks = readableTasks(data)
        const names = [...new Set(loaded.definitions.flatMap((d) => [d.name, ...d.capabilities]))]
        const registered = ` Registered from ${specifier}: ${agents.join(', ')}.`
        const routing = unknownAgentProblems(orchestrator, name, tasks, names).map((p) => ({
          ...p,
          message: `${options.file}: ${p.message}${registered}`,
        }))
        problems.push(
          ...routing,
          ...literalInputProblems(tasks, loaded.definitions).map((p) => ({
            ...p,
            message: `${options.file}: ${p.message}`,
          })),
        )
      } catch (e) {
        const error = toFlotillaError(e)
        if (problems.length === 0) throw error
        problems.push({ code: error.code, where: 'agents', message: error.message })
      } finally {
        await orchestrator.close()
      }
    }
    if (problems.length > 0) {
      if (options.json) {
        const error = { code: problems[0].code, message: problems[0].message }
        io.out.write(`${JSON.stringify({ ok: false, file: options.file, problems, error }, null, 2)}\n`)
      }
      for (const p of problems) io.err.write(`error [${p.code}]: ${p.message}\n`)
      io.err.write(`✗ ${options.file}: ${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}.\n`)
      return 1
    }
    const workflow = compileWorkflow(data as unknown as WorkflowSpec)
    if (options.json) {
      io.out.write(
        `${JSON.stringify({ ok: true, file: options.file, workflow: workflow.name, tasks: workflow.tasks.length, agentsModule: agentsModule ?? null, agents }, null, 2)}\n`,
      )
      return 0
    }
    const checked =
      agentsModule === undefined
        ? 'agents not checked: the workflow names no agents module'
        : `agents: ${agents.join(', ')}`
    io.out.write(
      `✓ ${options.file}: workflow "${workflow.name}", ${workflow.tasks.length} ${workflow.tasks.length === 1 ? 'task' : 'tasks'} (${checked})\n`,
    )
    return 0
  },
}
