import { z } from 'zod'
import { FlotillaError } from '../core/errors.js'
import { isFinalRunState } from '../core/states.js'
import { expectPositionals, parseAge, splitArgs, usageError, validateOptions } from './args.js'
import { STORE_FLAGS, type Command } from './command.js'
import { formatDateTime } from './format.js'
import { findRun, storeArg, withStore } from './runs-shared.js'
import { REMOTE_FLAGS, REMOTE_HELP, remoteOf } from './remote.js'
import { remoteControl } from './remote-runs.js'
import { STORE_HELP } from './store-option.js'

const idSchema = (command: string) =>
  z.object({
    id: z
      .string({
        error: `missing; name the run, as in "flotilla ${command} run_…" (ids are listed by "flotilla runs list")`,
      })
      .min(1),
    reason: z.string().min(1, 'must not be empty').optional(),
  })

const PAUSE_FLAGS = { ...STORE_FLAGS, ...REMOTE_FLAGS } as const

const PAUSE_HELP = `Usage: flotilla runs pause <run-id> [options]

Marks an unfinished run PAUSED in the store. Recovery ("flotilla recover")
leaves a paused run alone; "flotilla runs resume <run-id>" picks it up again
and runs it to the end. Use it on a run whose process has stopped, to hold
it back from recovery. With --server, the server pauses the run wherever
its workers execute it.

Options:
      --json              Print the outcome as JSON
${STORE_HELP}
${REMOTE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help

Exit code: 0 when the run was paused, 1 when it does not exist (RUN_NOT_FOUND)
or is already finished or paused (RUN_STATE_INVALID).`

/** `flotilla runs pause <id>`. */
export const runsPauseCommand: Command = {
  name: 'runs pause',
  summary: 'Mark an unfinished run PAUSED (recovery leaves it alone)',
  help: PAUSE_HELP,
  flags: PAUSE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs pause', argv, PAUSE_FLAGS)
    const [id] = expectPositionals('runs pause', positionals, ['run-id'])
    const options = validateOptions('runs pause', idSchema('runs pause'), { id })
    const remote = remoteOf('runs pause', values)
    if (remote !== undefined) return remoteControl(remote, 'pause', options.id, { json: values.json === true }, io)
    const flag = values.store as string | undefined
    return withStore(flag, async (orchestrator, store) => {
      const record = await findRun(orchestrator, options.id, store)
      await orchestrator.pause(record.id)
      if (values.json === true)
        io.out.write(
          `${JSON.stringify({ ok: true, runId: record.id, previousState: record.state, state: 'PAUSED' }, null, 2)}\n`,
        )
      else
        io.out.write(
          `Run ${record.id} is PAUSED (it was ${record.state}). Resume it with: flotilla runs resume ${record.id}${storeArg(flag)}\n`,
        )
      return 0
    })
  },
}

const CANCEL_FLAGS = { ...STORE_FLAGS, ...REMOTE_FLAGS, reason: { type: 'string' } } as const

const CANCEL_HELP = `Usage: flotilla runs cancel <run-id> [options]

Marks an unfinished run CANCELLED in the store, with its unfinished tasks;
the results of the tasks that succeeded stay stored ("flotilla runs replay"
can start a new run from them).

Options:
      --reason TEXT       Why; stored with the run (default: "cancelled by
                          the user")
      --json              Print the outcome as JSON
${STORE_HELP}
${REMOTE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help

Exit code: 0 when the run was cancelled, 1 when it does not exist
(RUN_NOT_FOUND) or is already finished (RUN_STATE_INVALID).`

/** `flotilla runs cancel <id> [--reason text]`. */
export const runsCancelCommand: Command = {
  name: 'runs cancel',
  summary: 'Mark an unfinished run CANCELLED, with its unfinished tasks',
  help: CANCEL_HELP,
  flags: CANCEL_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs cancel', argv, CANCEL_FLAGS)
    const [id] = expectPositionals('runs cancel', positionals, ['run-id'])
    const options = validateOptions('runs cancel', idSchema('runs cancel'), { id, reason: values.reason })
    const remote = remoteOf('runs cancel', values)
    if (remote !== undefined)
      return remoteControl(remote, 'cancel', options.id, { reason: options.reason, json: values.json === true }, io)
    const flag = values.store as string | undefined
    return withStore(flag, async (orchestrator, store) => {
      const record = await findRun(orchestrator, options.id, store)
      if (isFinalRunState(record.state)) {
        throw new FlotillaError('RUN_STATE_INVALID', `Cannot cancel run ${record.id}: it is already ${record.state}.`, {
          details: { runId: record.id, state: record.state },
        })
      }
      const reason = options.reason ?? 'cancelled by the user'
      await orchestrator.cancel(record.id, reason)
      if (values.json === true)
        io.out.write(
          `${JSON.stringify({ ok: true, runId: record.id, previousState: record.state, state: 'CANCELLED', reason }, null, 2)}\n`,
        )
      else io.out.write(`Run ${record.id} is CANCELLED (it was ${record.state}): ${reason}.\n`)
      return 0
    })
  },
}

const PRUNE_FLAGS = { ...STORE_FLAGS, 'older-than': { type: 'string' } } as const

const PRUNE_HELP = `Usage: flotilla runs prune --older-than AGE [options]

Deletes the finished runs (SUCCEEDED, FAILED, CANCELLED) that finished more
than AGE ago, with their tasks and events, in one transaction. Unfinished
runs are never deleted.

Options:
      --older-than AGE    A whole number and a unit: s, m, h, d or w (90s,
                          15m, 12h, 30d, 2w); 0s deletes every finished run
      --json              Print the outcome as JSON
${STORE_HELP}
      --verbose           Show error stacks
  -h, --help              Show this help

Example:
  flotilla runs prune --older-than 30d`

/** `flotilla runs prune --older-than 30d`. */
export const runsPruneCommand: Command = {
  name: 'runs prune',
  summary: 'Delete finished runs older than an age (--older-than 30d)',
  help: PRUNE_HELP,
  flags: PRUNE_FLAGS,
  async execute(argv, io) {
    const { values, positionals } = splitArgs('runs prune', argv, PRUNE_FLAGS)
    expectPositionals('runs prune', positionals, [])
    const age = values['older-than'] as string | undefined
    if (age === undefined)
      throw usageError('runs prune', '"flotilla runs prune" needs --older-than AGE, as in --older-than 30d.')
    const olderThanMs = parseAge('runs prune', '--older-than', age)
    return withStore(values.store as string | undefined, async (orchestrator, store) => {
      const finishedBefore = orchestrator.clock.wallNow() - olderThanMs
      const deleted = await orchestrator.prune(olderThanMs)
      if (values.json === true)
        io.out.write(`${JSON.stringify({ ok: true, deleted, olderThan: age, olderThanMs, finishedBefore }, null, 2)}\n`)
      else
        io.out.write(
          `Deleted ${deleted} finished ${deleted === 1 ? 'run' : 'runs'} that finished before ${formatDateTime(finishedBefore)} (older than ${age}) from ${store.label}.\n`,
        )
      return 0
    })
  },
}
