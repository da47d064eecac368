import { FlotillaError } from '../core/errors.js'
import { Client } from '../orchestrator/client.js'
import type { RunRecord, TaskRecord } from '../store/records.js'
import type { Store } from '../store/store.js'
import { loadWorkflowFile } from '../workflows/load.js'
import { parseInputs } from './args.js'
import { formatEventLine } from './event-lines.js'
import type { CliIO } from './execute-run.js'
import { formatDuration, paint } from './format.js'
import { formatOutputs, outputWidth, storedFinalOutputs } from './outputs.js'
import { runJson, storeArg, taskJson } from './runs-shared.js'

/** What `flotilla run --submit` needs: the file, its inputs, how to show the run. */
export interface SubmitOptions {
  file: string
  input: readonly string[]
  json: boolean
  verbose: boolean
  /** Return once the run is stored instead of following it to the end. */
  detach: boolean
  /** The `--store` flag as given (for the hints printed). */
  store: string | undefined
  /** `--debug` and `--break-on-error`, stored with the run for the workers. */
  debug?: boolean
  breakOnError?: boolean
  /** How often the store is read for new events, in ms. @default 200 */
  pollMs?: number
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED'])

/**
 * `flotilla run --submit`: stores a new run for the workers of the store and,
 * unless detached, follows it there (its events as lines, then its state and
 * final outputs). Nothing runs in this process and no agents module is
 * loaded. Returns the exit code: 0 when the run SUCCEEDED (or was submitted,
 * detached), 1 otherwise.
 */
export async function submitRun(store: Store, label: string, options: SubmitOptions, io: CliIO): Promise<number> {
  const workflow = await loadWorkflowFile(options.file)
  const input = parseInputs('run', options.input, workflow.spec.inputs)
  const client = await Client.connect(store)
  const p = paint(io.out.isTTY === true && !options.json)
  const unserved = await client.unserved(workflow)
  for (const u of unserved)
    io.err.write(
      `${p.yellow('waiting')}: task "${u.taskId}" needs ${u.needs} and no live worker offers it; start one with "flotilla worker --store … --agents …".\n`,
    )
  const runId = await client.start(workflow, input, {
    debug: options.debug === true,
    breakOnError: options.breakOnError === true,
  })
  if (options.detach) {
    if (options.json) io.out.write(`${JSON.stringify({ runId, state: 'PENDING' })}\n`)
    else
      io.out.write(
        `Submitted run ${runId} of workflow "${workflow.name}" to the workers of ${label}.\nFollow it with: flotilla runs show ${runId}${storeArg(options.store)}\n`,
      )
    return 0
  }
  if (!options.json)
    io.out.write(
      `Submitted run ${runId} of workflow "${workflow.name}" to the workers of ${label}; following it (Ctrl-C stops following, the run goes on).\n`,
    )
  let afterSeq = 0
  let run: RunRecord
  for (;;) {
    run = await client.getRun(runId)
    const events = await client.listEvents(runId, { afterSeq, limit: 1000 })
    for (const e of events) {
      afterSeq = e.seq
      if (options.json) continue
      const line = formatEventLine(e.event, options.verbose)
      if (line !== undefined) io.out.write(`${line}\n`)
    }
    if (FINAL.has(run.state) && events.length === 0) break
    if (events.length < 1000) await new Promise((r) => setTimeout(r, options.pollMs ?? 200))
  }
  const tasks = await client.getTasks(runId)
  const outputs = storedFinalOutputs(run.definition, tasks)
  if (options.json)
    io.out.write(
      `${JSON.stringify({ run: runJson(run, tasks), outputs: Object.fromEntries(outputs), tasks: tasks.map(taskJson) }, null, 2)}\n`,
    )
  else
    io.out.write(
      summaryLines(run, tasks, p) +
        formatOutputs(outputs, p, {
          width: outputWidth(io.out.columns),
          hint: `flotilla runs show ${runId}${storeArg(options.store)} --json`,
        }),
    )
  return run.state === 'SUCCEEDED' ? 0 : 1
}

function summaryLines(run: RunRecord, tasks: readonly TaskRecord[], p: ReturnType<typeof paint>): string {
  const took =
    run.startedAt !== undefined && run.finishedAt !== undefined
      ? ` in ${formatDuration(run.finishedAt - run.startedAt)}`
      : ''
  const done = tasks.filter((t) => t.state === 'SUCCEEDED').length
  const state = run.state === 'SUCCEEDED' ? p.green(run.state) : p.red(run.state)
  const error = run.error === undefined ? '' : `\n  ${p.red(`[${run.error.code}]`)} ${run.error.message}`
  return `\nRun ${run.id} ${state}${took}: ${done}/${tasks.length} tasks succeeded${error}\n`
}

/** `--submit` refuses the memory store: no other process could take the run. */
export function checkSubmitStore(kind: string): void {
  if (kind === 'memory')
    throw new FlotillaError(
      'VALIDATION_FAILED',
      'run --submit needs a store that workers share: --store postgres://… or a SQLite file; the memory store is seen by this process only.',
    )
}
