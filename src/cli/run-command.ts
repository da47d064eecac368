import { z } from 'zod'
import { otlpTracesEndpoint, otlpTracing } from '../telemetry/otlp.js'
import { expectPositionals, parseInputs, splitArgs, validateOptions } from './args.js'
import { RUN_FLAGS, runFlagValues, type Command } from './command.js'
import { executeRun } from './execute-run.js'
import { paint } from './format.js'
import { prepareWorkflow } from './prepare.js'
import { openCliBackend, openCliStore, STORE_HELP, storeLabel, storeSpec } from './store-option.js'
import { checkSubmitStore, submitRun } from './submit-run.js'
import { REMOTE_FLAGS, REMOTE_HELP, remoteOf } from './remote.js'
import { remoteRun } from './remote-runs.js'
import { formatStoredNote } from './summary.js'
import { FlotillaError } from '../core/errors.js'
import { parseStoreSpec } from '../store/open-store.js'

/** The options of `flotilla run`, after validation. */
export const runOptionsSchema = z.object({
  file: z.string({ error: 'missing; name the workflow file, as in "flotilla run workflow.yaml"' }).min(1),
  input: z.array(z.string()),
  json: z.boolean(),
  concurrency: z
    .string()
    .regex(/^[1-9]\d*$/, 'must be a whole number ≥ 1')
    .transform(Number)
    .optional(),
  verbose: z.boolean(),
  live: z.boolean(),
  store: z.string().optional(),
  submit: z.boolean().default(false),
  detach: z.boolean().default(false),
  debug: z.boolean().default(false),
  breakOnError: z.boolean().default(false),
})

/** Options of `flotilla run`. */
export type RunCommandOptions = z.infer<typeof runOptionsSchema>

const FLAGS = {
  ...RUN_FLAGS,
  ...REMOTE_FLAGS,
  submit: { type: 'boolean' },
  detach: { type: 'boolean' },
  debug: { type: 'boolean' },
  'break-on-error': { type: 'boolean' },
} as const

const HELP = `Usage: flotilla run <workflow.yaml> [options]

Runs a workflow file. When the file names an agents module
("agents: ./agents.mjs", relative to the file), every agent it exports
(defineAgent results, arrays of them, or the default export) is registered.

At the end it prints a summary and the run's final outputs (those of the
tasks the workflow names in "outputs:", else of the tasks nothing depends
on), cut short when long: --json prints them all.

The run is stored (by default in .flotilla/flotilla.db) as it goes: its id
is printed, and "flotilla runs" lists, shows, pauses, resumes, cancels and
replays it. If the process stops, "flotilla recover" finishes the run
without running again the tasks that had succeeded.

With --server, the run is started through the HTTP API of "flotilla serve"
(by the name of a workflow the server offers, or a workflow file sent
whole) and followed there; its workers execute it.

Options:
  -i, --input key=value   A run input; repeat for several. An input the workflow
                          declares with "type: string" takes the text as it
                          is; other values are JSON when valid JSON (42, true,
                          {"a":1}), else text. Dotted keys build objects:
                          --input limits.max=3
      --json              Print only the run result as JSON at the end
      --concurrency N     Most tasks running at once (overrides the workflow)
${STORE_HELP}
      --submit            Store the run for "flotilla worker" processes on the
                          same store to execute, and follow it there (no agents
                          are loaded here); needs a shared store (PostgreSQL or
                          a SQLite file), not memory
      --detach            With --submit or --server: print the run id and
                          return at once
${REMOTE_HELP}
      --debug             Debug mode: traces keep whole model answers, tool
                          results and the conversations sent to models
      --break-on-error    Pause the run at a task about to fail for good
                          (its retries spent) instead of failing: this
                          process lets go of the run, which stays PAUSED in
                          the store; inspect it ("flotilla runs show",
                          "flotilla runs trace"), then "flotilla runs resume"
                          retries that task, or "flotilla runs replay" starts
                          a changed run
      --no-live           Plain event lines even on a terminal
      --verbose           Show progress and log events, and error stacks
  -h, --help              Show this help

Exit code: 0 when the run SUCCEEDED, 1 when it failed or was cancelled,
2 for a usage error.

Examples:
  flotilla run examples/scan-and-fix/workflow.yaml --input apply=false
  flotilla run flow.yaml --store memory           # keep nothing
  flotilla run flow.yaml --store postgres://postgres@127.0.0.1:5432/flotilla
  flotilla run flow.yaml --submit --store postgres://postgres@127.0.0.1:5432/flotilla
  flotilla run nightly-report --server http://127.0.0.1:7400 --api-key flt_…`

/** `flotilla run <workflow.yaml>`: runs a workflow with a live display. */
export const runCommand: Command = {
  name: 'run',
  summary: 'Run a workflow file (live display on a terminal, --json for scripts)',
  help: HELP,
  flags: FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('run', argv, FLAGS)
    const [file] = expectPositionals('run', positionals, ['workflow.yaml'])
    const options = validateOptions('run', runOptionsSchema, {
      file,
      ...runFlagValues(values),
      submit: values.submit === true,
      detach: values.detach === true,
      debug: values.debug === true,
      breakOnError: values['break-on-error'] === true,
    })
    const remote = remoteOf('run', values)
    if (remote !== undefined) {
      parseInputs('run', options.input)
      return remoteRun(remote, options.file, { ...options }, io)
    }
    if (options.detach && !options.submit)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'run: --detach goes with --submit (an embedded run lives in this process).',
      )
    // Malformed pairs fail before anything is loaded; values are typed once the workflow's inputs are known.
    parseInputs('run', options.input)
    // A malformed store spec fails before anything is loaded or written.
    const label = storeLabel(storeSpec(options.store))
    if (options.submit) {
      checkSubmitStore(parseStoreSpec(storeSpec(options.store)).kind)
      const { store } = await openCliStore(options.store)
      try {
        return await submitRun(store, label, { ...options, store: options.store }, io)
      } finally {
        await store.close()
      }
    }
    // Spans go over OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) says where; nothing is loaded otherwise.
    const otlp = otlpTracesEndpoint() === undefined ? undefined : await otlpTracing('flotilla')
    const prepared = await prepareWorkflow(options.file, {
      openBackend: () => openCliBackend(options.store),
      ...(otlp === undefined ? {} : { tracer: otlp.tracer }),
    }).catch(async (e: unknown) => {
      await otlp?.shutdown()
      throw e
    })
    try {
      const input = parseInputs('run', options.input, prepared.workflow.spec.inputs)
      const result = await executeRun(prepared, input, options, io)
      if (!options.json)
        io.out.write(
          formatStoredNote(
            result,
            { label, durable: prepared.orchestrator.store.durable, flag: options.store },
            paint(io.out.isTTY === true),
          ),
        )
      return result.ok ? 0 : 1
    } finally {
      await prepared.orchestrator.close()
      await otlp?.shutdown()
    }
  },
}
