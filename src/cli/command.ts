import type { FlagSpecs, RawArgs } from './args.js'
import type { CliIO } from './execute-run.js'

/** One command (or sub-command) of the `flotilla` CLI. */
export interface Command {
  /** The words that name it, e.g. `run` or `runs list`. */
  readonly name: string
  /** One line for the help of its parent. */
  readonly summary: string
  /** The full help text of the command. */
  readonly help: string
  readonly flags: FlagSpecs
  /** Sub-commands (`flotilla runs list`); the command itself then only dispatches. */
  readonly subcommands?: readonly Command[]
  /** Runs the command with its arguments (the command's words removed); resolves to the exit code. */
  execute(argv: readonly string[], io: CliIO): Promise<number>
}

/** Flags every command accepts. */
export const COMMON_FLAGS: FlagSpecs = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean' },
}

/** Flags of the commands that read or write the store of runs. */
export const STORE_FLAGS: FlagSpecs = {
  ...COMMON_FLAGS,
  store: { type: 'string' },
  json: { type: 'boolean' },
}

/** How a command shows a run it executes. */
export const DISPLAY_FLAGS: FlagSpecs = {
  ...STORE_FLAGS,
  'no-live': { type: 'boolean' },
}

/** Flags of the commands that run a workflow. */
export const RUN_FLAGS: FlagSpecs = {
  ...DISPLAY_FLAGS,
  input: { type: 'string', multiple: true, short: 'i' },
  concurrency: { type: 'string' },
}

/** The values of {@link RUN_FLAGS} as the run options schemas expect them (before validation). */
export function runFlagValues(values: RawArgs['values']): {
  input: unknown
  json: boolean
  concurrency: unknown
  verbose: boolean
  live: boolean
  store: unknown
} {
  return {
    input: values.input ?? [],
    json: values.json === true,
    concurrency: values.concurrency,
    verbose: values.verbose === true,
    live: values['no-live'] !== true,
    store: values.store,
  }
}

/** Flags of the commands that execute stored runs: where their agents come from. */
export const AGENT_SOURCE_FLAGS: FlagSpecs = {
  agents: { type: 'string', multiple: true },
  'workflow-dir': { type: 'string' },
}
