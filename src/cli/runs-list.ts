import { formatRunTree, runTree, type RunTreeSource } from './run-tree.js'
import { z } from 'zod'
import { RUN_STATES, type RunState } from '../core/states.js'
import { expectPositionals, splitArgs, usageError, validateOptions } from './args.js'
import { STORE_FLAGS, type Command } from './command.js'
import { formatEventLine } from './event-lines.js'
import { formatDateTime, formatDuration, formatTable, paint, type Paint } from './format.js'
import { formatOutputs, outputWidth, storedFinalOutputs } from './outputs.js'
import {
  countTasks,
  findRun,
  runDuration,
  runJson,
  storeArg,
  taskJson,
  taskSpendView,
  formatGeneratedSummary,
  withStore,
} from './runs-shared.js'
import { formatSpend } from './summary.js'
import { REMOTE_FLAGS, REMOTE_HELP, remoteOf } from './remote.js'
import { remoteRunsList, remoteRunsShow } from './remote-runs.js'
import { STORE_HELP } from './store-option.js'

const LIST_FLAGS = {
  ...STORE_FLAGS,
  ...REMOTE_FLAGS,
  state: { type: 'string', multiple: true },
  workflow: { type: 'string' },
  limit: { type: 'string' },
} as const

const listSchema = z.object({
  limit: z
    .string()
    .regex(/^[1-9]\d*$/, 'must be a whole number ≥ 1')
    .transform(Number)
    .default(20),
  workflow: z.string().min(1, 'must not be empty').optional(),
})

const LIST_HELP = `Usage: flotilla runs list [options]

Lists the stored runs, newest first: id, workflow, state, creation time,
duration and tasks done out of the total.

Options:
      --state STATE       Only runs in this state: PENDING, RUNNING, PAUSED,
                          SUCCEEDED, FAILED or CANCELLED; repeat, or separate
                          with commas, for several
      --workflow NAME     Only runs of this workflow
      --limit N           Most runs listed (default 20)
      --json              Print the runs as a JSON array
${STORE_HELP}
${REMOTE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help

Examples:
  flotilla runs list
  flotilla runs list --state RUNNING,PAUSED --json`

function parseStates(command: string, given: readonly string[]): RunState[] | undefined {
  if (given.length === 0) return undefined
  const states: RunState[] = []
  for (const part of given.flatMap((g) => g.split(','))) {
    const state = part.trim().toUpperCase()
    if (!(RUN_STATES as readonly string[]).includes(state))
      throw usageError(command, `--state "${part}" is not a run state; use ${RUN_STATES.join(', ')}.`)
    if (!states.includes(state as RunState)) states.push(state as RunState)
  }
  return states
}

function paintState(state: string, p: Paint): string {
  if (state === 'SUCCEEDED') return p.green(state)
  if (state === 'FAILED' || state === 'CANCELLED') return p.red(state)
  if (state === 'PAUSED') return p.yellow(state)
  return p.cyan(state)
}

/** `flotilla runs list`: the stored runs as a table or JSON. */
export const runsListCommand: Command = {
  name: 'runs list',
  summary: 'List stored runs, newest first (--state, --workflow, --limit)',
  help: LIST_HELP,
  flags: LIST_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs list', argv, LIST_FLAGS)
    expectPositionals('runs list', positionals, [])
    const options = validateOptions('runs list', listSchema, { limit: values.limit, workflow: values.workflow })
    const states = parseStates('runs list', (values.state as string[] | undefined) ?? [])
    const json = values.json === true
    const remote = remoteOf('runs list', values)
    if (remote !== undefined)
      return remoteRunsList(remote, { states, workflow: options.workflow, limit: options.limit, json }, io)
    return withStore(values.store as string | undefined, async (orchestrator, store) => {
      const runs = await orchestrator.listRuns({ state: states, workflow: options.workflow, limit: options.limit })
      const rows = await Promise.all(runs.map(async (r) => ({ record: r, tasks: await orchestrator.getTasks(r.id) })))
      if (json) {
        io.out.write(
          `${JSON.stringify(
            rows.map((r) => runJson(r.record, r.tasks)),
            null,
            2,
          )}\n`,
        )
        return 0
      }
      if (rows.length === 0) {
        const filter = [
          states ? `state ${states.join('/')}` : '',
          options.workflow ? `workflow "${options.workflow}"` : '',
        ]
          .filter(Boolean)
          .join(', ')
        io.out.write(
          `No runs${filter ? ` (${filter})` : ''} in ${store.label}${store.exists ? '' : ' (it does not exist yet)'}.\n`,
        )
        return 0
      }
      const p = paint(io.out.isTTY === true)
      const table = rows.map(({ record, tasks }) => {
        const c = countTasks(tasks)
        const duration = runDuration(record)
        return [
          record.id,
          record.workflow,
          paintState(record.state, p),
          formatDateTime(record.createdAt),
          duration === undefined ? '–' : formatDuration(duration),
          `${c.done}/${c.total}`,
        ]
      })
      io.out.write(formatTable(['ID', 'WORKFLOW', 'STATE', 'CREATED', 'DURATION', 'TASKS'], table))
      if (rows.length === options.limit) io.out.write(p.dim(`(the ${options.limit} newest; --limit N for more)\n`))
      return 0
    })
  },
}

const SHOW_FLAGS = { ...STORE_FLAGS, ...REMOTE_FLAGS, events: { type: 'string' } } as const

const showSchema = z.object({
  id: z
    .string({
      error: 'missing; name the run, as in "flotilla runs show run_…" (ids are listed by "flotilla runs list")',
    })
    .min(1),
  events: z.string().regex(/^\d+$/, 'must be a whole number ≥ 0').transform(Number).default(20),
})

const SHOW_HELP = `Usage: flotilla runs show <run-id> [options]

Shows one stored run: its state, times, input, error and the run it was
replayed from; each task's state, attempts, agent, duration and error code;
its final outputs (those of the tasks named in the workflow's "outputs:",
else of the tasks nothing depends on; cut short when long: --json prints
them all); and its most recent events.

Options:
      --events N          Recent events shown (default 20; 0 for none)
      --json              Print the run, its tasks (with their outputs) and
                          the recent events as JSON
${STORE_HELP}
${REMOTE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help`

/** `flotilla runs show <id>`: one run with its tasks and recent events. */
export const runsShowCommand: Command = {
  name: 'runs show',
  summary: 'Show a run, each of its tasks and its recent events',
  help: SHOW_HELP,
  flags: SHOW_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs show', argv, SHOW_FLAGS)
    const [id] = expectPositionals('runs show', positionals, ['run-id'])
    const options = validateOptions('runs show', showSchema, { id, events: values.events })
    const remote = remoteOf('runs show', values)
    if (remote !== undefined)
      return remoteRunsShow(remote, options.id, { events: options.events, json: values.json === true }, io)
    const flag = values.store as string | undefined
    return withStore(flag, async (orchestrator, store) => {
      const record = await findRun(orchestrator, options.id, store)
      const tasks = await orchestrator.getTasks(record.id)
      const all = options.events > 0 ? await orchestrator.listEvents(record.id) : []
      const recent = all.slice(Math.max(0, all.length - options.events))
      const tree = await runTree(treeSource(orchestrator), record)
      if (values.json === true) {
        const run = { ...runJson(record, tasks), input: record.input ?? null, definition: record.definition }
        io.out.write(
          `${JSON.stringify({ run, tasks: tasks.map(taskJson), events: recent.map((e) => ({ seq: e.seq, ...e.event })), tree }, null, 2)}\n`,
        )
        return 0
      }
      const p = paint(io.out.isTTY === true)
      const c = countTasks(tasks)
      const duration = runDuration(record)
      const lines = [
        `${p.bold(`Run ${record.id}`)} of workflow "${record.workflow}": ${paintState(record.state, p)}`,
        `  created    ${formatDateTime(record.createdAt)}`,
        `  started    ${formatDateTime(record.startedAt)}`,
        `  finished   ${formatDateTime(record.finishedAt)}${duration === undefined ? '' : ` (${formatDuration(duration)})`}`,
      ]
      if (record.parentRunId !== undefined)
        lines.push(
          record.parentTaskId === undefined
            ? `  replay of  ${record.parentRunId}`
            : `  child of   ${record.parentRunId} (task ${record.parentTaskId})`,
        )
      if (record.input !== undefined) lines.push(`  input      ${clip(JSON.stringify(record.input), 200)}`)
      if (record.error !== undefined)
        lines.push(`  error      ${p.red(`[${record.error.code}]`)} ${record.error.message}`)
      const byState = Object.entries(c.byState)
        .map(([s, n]) => `${n} ${s.toLowerCase()}`)
        .join(', ')
      lines.push(`  tasks      ${c.done}/${c.total} done${byState ? `: ${byState}` : ''}`)
      const spend = taskSpendView(tasks, record.summary)
      if (spend !== undefined) lines.push(`  model      ${formatSpend(spend.total)}`)
      lines.push(`  store      ${store.label}`)
      io.out.write(`${lines.join('\n')}\n\n`)
      io.out.write(
        formatTable(
          ['TASK', 'STATE', 'ATTEMPTS', 'AGENT', 'DURATION', ...(spend === undefined ? [] : ['MODEL']), 'ERROR'],
          tasks.map((t, k) => {
            const d =
              t.startedAt !== undefined && t.finishedAt !== undefined
                ? formatDuration(Math.max(0, t.finishedAt - t.startedAt))
                : '–'
            const error = t.error === undefined ? '' : p.red(`${t.error.code}`) + ` ${clip(t.error.message, 80)}`
            const cost = spend === undefined ? [] : [spend.cells[k]]
            return [t.taskId, paintState(t.state, p), String(t.attempt), t.agent ?? '–', d, ...cost, error]
          }),
          '  ',
        ),
      )
      const showAll = `flotilla runs show ${record.id}${storeArg(flag)} --json`
      const outputs = formatOutputs(storedFinalOutputs(record.definition, tasks), p, {
        width: outputWidth(io.out.columns),
        hint: showAll,
      })
      if (outputs) io.out.write(`\n${outputs}`)
      if (record.summary !== undefined)
        io.out.write(`\n${formatGeneratedSummary(record.summary, outputWidth(io.out.columns))}`)
      if (tree.children.length > 0) io.out.write(`\nRuns and agents:\n${formatRunTree(tree, '  ').join('\n')}\n`)
      if (options.events > 0) {
        io.out.write(
          `\n${recent.length === all.length ? `Events (${all.length})` : `Recent events (last ${recent.length} of ${all.length})`}:\n`,
        )
        for (const { event } of recent) {
          const line = formatEventLine(event, true)
          if (line !== undefined) io.out.write(`  ${line}\n`)
        }
      }
      const hint = nextStep(record.id, record.state, storeArg(flag))
      if (hint) io.out.write(`\n${p.dim(hint)}\n`)
      return 0
    })
  },
}

function nextStep(id: string, state: RunState, store: string): string {
  switch (state) {
    case 'PAUSED':
      return `Resume it with: flotilla runs resume ${id}${store}`
    case 'PENDING':
    case 'RUNNING':
      return `If the process running it has stopped, finish it with: flotilla runs resume ${id}${store}`
    case 'FAILED':
    case 'CANCELLED':
      return `Re-run what did not succeed, keeping the stored results: flotilla runs replay ${id}${store}`
    default:
      return ''
  }
}

function clip(text: string, max: number): string {
  const chars = [...text.replace(/\s*\n\s*/g, ' ')]
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`
}

/** The store reads of a run tree, through the orchestrator. */
function treeSource(o: {
  listRuns: RunTreeSource['listRuns']
  getTasks: RunTreeSource['getTasks']
  getRun: RunTreeSource['getRun']
}): RunTreeSource {
  return {
    listRuns: (f) => o.listRuns(f),
    getTasks: (id) => o.getTasks(id),
    getRun: (id) => o.getRun(id).catch(() => undefined),
  }
}
