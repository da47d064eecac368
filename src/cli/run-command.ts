import { z } from 'zod'
import { expectPositionals, parseInputs, splitArgs, validateOptions } from './args.js'
import { RUN_FLAGS, type Command } from './command.js'
import { executeRun } from './execute-run.js'
import { prepareWorkflow } from './prepare.js'

/** The options of `flotilla run`, after validation. */
export const runOptionsSchema = z.object({
  file: z.string({ error: 'missing; name the workflow file, as in "flotilla run workflow.yaml"' }).min(1),
  input: z.array(z.string()),
  json: z.boolean(),
  concurrency: z.string().regex(/^[1-9]\d*$/, 'must be a whole number ≥ 1').transform(Number).optional(),
  verbose: z.boolean(),
  live: z.boolean(),
})

/** Options of `flotilla run`. */
export type RunCommandOptions = z.infer<typeof runOptionsSchema>

const HELP = `Usage: flotilla run <workflow.yaml> [options]

Runs a workflow file. When the file names an agents module
("agents: ./agents.mjs", relative to the file), every agent it exports
(defineAgent results, arrays of them, or the default export) is registered.

Options:
  -i, --input key=value   A run input; repeat for several. Values are JSON when
                          valid JSON (42, true, {"a":1}), else text. Dotted
                          keys build objects: --input limits.max=3
      --json              Print only the run result as JSON at the end
      --concurrency N     Most tasks running at once (overrides the workflow)
      --no-live           Plain event lines even on a terminal
      --verbose           Show progress and log events, and error stacks
  -h, --help              Show this help

Exit code: 0 when the run SUCCEEDED, 1 when it failed or was cancelled,
2 for a usage error.

Example:
  flotilla run examples/scan-and-fix/workflow.yaml --input apply=false`

/** `flotilla run <workflow.yaml>`: runs a workflow with a live display. */
export const runCommand: Command = {
  name: 'run',
  summary: 'Run a workflow file (live display on a terminal, --json for scripts)',
  help: HELP,
  flags: RUN_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('run', argv, RUN_FLAGS)
    const [file] = expectPositionals('run', positionals, ['workflow.yaml'])
    const options = validateOptions('run', runOptionsSchema, {
      file,
      input: values.input ?? [],
      json: values.json === true,
      concurrency: values.concurrency,
      verbose: values.verbose === true,
      live: values['no-live'] !== true,
    })
    const input = parseInputs('run', options.input)
    const prepared = await prepareWorkflow(options.file)
    try {
      const result = await executeRun(prepared, input, options, io)
      return result.ok ? 0 : 1
    } finally {
      await prepared.orchestrator.close()
    }
  },
}
