import { z } from 'zod'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import { isFinalRunState } from '../core/states.js'
import type { RunHandle } from '../orchestrator/orchestrator.js'
import type { RunRecord } from '../store/records.js'
import type { RunResult } from '../workflows/results.js'
import { expectPositionals, splitArgs, validateOptions } from './args.js'
import { AGENT_SOURCE_FLAGS, DISPLAY_FLAGS, type Command } from './command.js'
import { formatEventLine } from './event-lines.js'
import { stackOf, untilSettled, watchRun } from './execute-run.js'
import { paint } from './format.js'
import { LiveGroup } from './live-group.js'
import { findRun, storeArg, withRunStore } from './runs-shared.js'
import { AGENT_SOURCE_HELP, AGENT_SOURCE_NOTE, StoredRunAgents, type AgentSource } from './stored-agents.js'
import { REMOTE_FLAGS, REMOTE_HELP, remoteOf } from './remote.js'
import { remoteControl } from './remote-runs.js'
import { STORE_HELP } from './store-option.js'
import { outputWidth } from './outputs.js'
import { formatStoredNote, formatSummary, resultJson } from './summary.js'

const RESUME_FLAGS = { ...DISPLAY_FLAGS, ...AGENT_SOURCE_FLAGS, ...REMOTE_FLAGS } as const

function agentSource(values: Record<string, unknown>): AgentSource {
  return {
    agents: (values.agents as string[] | undefined) ?? [],
    workflowDir: values['workflow-dir'] as string | undefined,
  }
}

const resumeSchema = z.object({
  id: z
    .string({
      error: 'missing; name the run, as in "flotilla runs resume run_…" (ids are listed by "flotilla runs list")',
    })
    .min(1),
})

const RESUME_HELP = `Usage: flotilla runs resume <run-id> [options]

Runs an unfinished stored run to the end in this process, with the live
display (or plain event lines) of "flotilla run": a PAUSED run, or a run
whose process stopped (crashed, killed, machine restarted). The results of
the tasks that had succeeded are kept and never computed again; tasks that
were running start again with attempt + 1 and the same idempotency key.
Do not resume a run that another process is still executing.

A finished run cannot be resumed (RUN_STATE_INVALID): "flotilla runs replay"
starts a new run from it instead.

With --server, the server marks a PAUSED run to go on, and the workers of
its store finish it; nothing runs in this process.

${AGENT_SOURCE_NOTE}

Options:
${AGENT_SOURCE_HELP}
      --json              Print only the run result as JSON at the end
${STORE_HELP}
${REMOTE_HELP}
      --no-live           Plain event lines even on a terminal
      --verbose           Show progress and log events, and error stacks
  -h, --help              Show this help

Exit code: 0 when the run SUCCEEDED, 1 when it failed, was cancelled or
could not be resumed, 2 for a usage error.`

/** `flotilla runs resume <id>`: runs a paused or orphaned run to the end here. */
export const runsResumeCommand: Command = {
  name: 'runs resume',
  summary: 'Finish a paused or interrupted run in this process',
  help: RESUME_HELP,
  flags: RESUME_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs resume', argv, RESUME_FLAGS)
    const [id] = expectPositionals('runs resume', positionals, ['run-id'])
    const options = validateOptions('runs resume', resumeSchema, { id })
    const remote = remoteOf('runs resume', values)
    if (remote !== undefined) return remoteControl(remote, 'resume', options.id, { json: values.json === true }, io)
    const display = { json: values.json === true, live: values['no-live'] !== true, verbose: values.verbose === true }
    const flag = values.store as string | undefined
    return withRunStore(flag, async (orchestrator, store) => {
      const record = await findRun(orchestrator, options.id, store)
      if (isFinalRunState(record.state)) {
        throw new FlotillaError(
          'RUN_STATE_INVALID',
          `Run ${record.id} is ${record.state}: a finished run cannot be resumed. Use "flotilla runs replay ${record.id}${storeArg(flag)}" to start a new run from it (it keeps the stored results of the tasks that succeeded and re-runs the others).`,
          {
            details: { runId: record.id, state: record.state },
          },
        )
      }
      if (record.parentTaskId !== undefined && record.parentRunId !== undefined)
        throw new FlotillaError(
          'RUN_STATE_INVALID',
          `Run ${record.id} is a child run of run ${record.parentRunId} (task "${record.parentTaskId}"), whose task takes it over: resume that run instead ("flotilla runs resume ${record.parentRunId}${storeArg(flag)}", or "flotilla recover").`,
          { details: { runId: record.id, parentRunId: record.parentRunId, parentTaskId: record.parentTaskId } },
        )
      const workflow = await new StoredRunAgents(orchestrator, agentSource(values)).prepare(record)
      const initial = await orchestrator.getTasks(record.id)
      const result = await watchRun(
        {
          workflow,
          initial,
          begin: async (onEvent) => {
            const [handle] = await orchestrator.recover({ runIds: [record.id], onEvent })
            if (record.state === 'PAUSED') handle.resume()
            return handle
          },
        },
        display,
        io,
      )
      if (!display.json)
        io.out.write(
          formatStoredNote(
            result,
            { label: store.label, durable: orchestrator.store.durable, flag },
            paint(io.out.isTTY === true),
          ),
        )
      return result.ok ? 0 : 1
    })
  },
}

const RESUME_ALL_FLAGS = { ...DISPLAY_FLAGS, ...AGENT_SOURCE_FLAGS } as const

function resumeAllHelp(usage: string, alias: string): string {
  return `Usage: ${usage} [options]

${alias}Resumes every unfinished run of the store whose process stopped (RUNNING
or PENDING) and runs them to the end in this process, with the live
display of "flotilla run" on a terminal (one frame per run; plain event
lines otherwise), then prints one summary per run. Stored results are kept and never computed again; tasks
that were running start again with attempt + 1 and the same idempotency
key. PAUSED runs stay paused ("flotilla runs resume <run-id>" resumes one).
Child runs (a task's plan, an agent spawned from a template) are not
resumed on their own: their parent run's task takes them over.
Run it after a crash or a restart, when no other process is executing
those runs.

${AGENT_SOURCE_NOTE}

Options:
${AGENT_SOURCE_HELP}
      --json              Print only the outcome as JSON:
                          { ok, runs, errors, paused }
${STORE_HELP}
      --no-live           Plain event lines even on a terminal
      --verbose           Show progress and log events, and error stacks
  -h, --help              Show this help

Exit code: 0 when every resumed run SUCCEEDED (or there was none), 1 when
one failed, was cancelled or could not be resumed, 2 for a usage error.`
}

/** What could not be resumed, and why. */
interface ResumeFailure {
  runId: string
  error: FlotillaError
}

async function resumeAll(
  command: string,
  argv: readonly string[],
  io: Parameters<Command['execute']>[1],
): Promise<number> {
  const { values, positionals } = splitArgs(command, argv, RESUME_ALL_FLAGS)
  expectPositionals(command, positionals, [])
  const json = values.json === true
  const verbose = values.verbose === true
  const flag = values.store as string | undefined
  const p = paint(io.out.isTTY === true && !json)
  return withRunStore(flag, async (orchestrator, store) => {
    const unfinished = await orchestrator.listRuns({
      state: ['PENDING', 'RUNNING', 'PAUSED'],
      limit: Number.MAX_SAFE_INTEGER,
    })
    const paused = unfinished.filter((r) => r.state === 'PAUSED').map((r) => r.id as string)
    // Child runs (a plan, a spawned agent's run) are taken over by their parent's task, never resumed on their own.
    const candidates = unfinished.filter((r) => r.state !== 'PAUSED' && r.parentTaskId === undefined).reverse() // oldest first
    const agents = new StoredRunAgents(orchestrator, agentSource(values))
    const failures: ResumeFailure[] = []
    const fail = (record: RunRecord, e: unknown): void => {
      const error = toFlotillaError(e, 'INTERNAL')
      failures.push({ runId: record.id, error })
      if (json) return
      io.err.write(
        `error [${error.code}]: ${error.message.startsWith(`Run ${record.id}`) ? '' : `run ${record.id}: `}${error.message}\n`,
      )
      if (verbose) io.err.write(`${stackOf(error)}\n`)
    }
    const several = candidates.length > 1
    const live =
      io.out.isTTY === true && !json && values['no-live'] !== true && candidates.length > 0
        ? new LiveGroup(io.out, p)
        : undefined
    const onEvent = json
      ? undefined
      : live
        ? (e: RunEvent): void => live.onEvent(e)
        : (e: RunEvent): void => {
            const line = formatEventLine(e, verbose)
            if (line !== undefined) io.out.write(several ? `[${e.runId}] ${line}\n` : `${line}\n`)
          }
    const handles: RunHandle[] = []
    for (const record of candidates) {
      try {
        const workflow = await agents.prepare(record)
        live?.add(record.id, workflow, await orchestrator.getTasks(record.id))
        handles.push(...(await orchestrator.recover({ runIds: [record.id], onEvent })))
      } catch (e) {
        live?.remove(record.id)
        fail(record, e)
      }
    }
    if (live !== undefined && live.size > 0) live.start()
    let results: RunResult[]
    try {
      results = await untilSettled(handles, io, live)
    } finally {
      live?.stop()
    }
    const ok = failures.length === 0 && results.every((r) => r.ok)
    if (json) {
      io.out.write(
        `${JSON.stringify({ ok, runs: results.map(resultJson), errors: failures.map((f) => ({ runId: f.runId, error: f.error.toJSON() })), paused }, null, 2)}\n`,
      )
      return ok ? 0 : 1
    }
    for (const r of results) {
      io.out.write(formatSummary(r, p, { width: outputWidth(io.out.columns) }))
      if (verbose && r.error?.stack) io.err.write(`${stackOf(r.error)}\n`)
    }
    const lines: string[] = results.length > 0 ? [''] : []
    if (candidates.length === 0)
      lines.push(
        `Nothing to recover: no unfinished run in ${store.label}${store.exists ? '' : ' (it does not exist yet)'}.`,
      )
    else {
      const succeeded = results.filter((r) => r.ok).length
      const parts = [`${succeeded} succeeded`]
      if (results.length > succeeded) parts.push(p.red(`${results.length - succeeded} failed or cancelled`))
      if (failures.length > 0) parts.push(p.red(`${failures.length} could not be resumed`))
      lines.push(
        `Recovered ${candidates.length} ${candidates.length === 1 ? 'run' : 'runs'} from ${store.label}: ${parts.join(', ')}.`,
      )
    }
    if (paused.length > 0)
      lines.push(
        `Left PAUSED: ${paused.join(', ')} (resume one with "flotilla runs resume <run-id>${storeArg(flag)}").`,
      )
    io.out.write(`${lines.join('\n')}\n`)
    return ok ? 0 : 1
  })
}

/** `flotilla runs resume-all`: resumes every unfinished run of the store. */
export const runsResumeAllCommand: Command = {
  name: 'runs resume-all',
  summary: 'Finish every unfinished run but paused ones (= "flotilla recover")',
  help: resumeAllHelp('flotilla runs resume-all', ''),
  flags: RESUME_ALL_FLAGS,
  execute: (argv, io) => resumeAll('runs resume-all', argv, io),
}

/** `flotilla recover`: the same as `flotilla runs resume-all`. */
export const recoverCommand: Command = {
  name: 'recover',
  summary: 'Finish every unfinished run after a crash (= "runs resume-all")',
  help: resumeAllHelp('flotilla recover', 'The same as "flotilla runs resume-all".\n\n'),
  flags: RESUME_ALL_FLAGS,
  execute: (argv, io) => resumeAll('recover', argv, io),
}
