import type { FlagSpecs } from './args.js'
import type { CliIO } from './execute-run.js'

/** One subcommand of the `flotilla` CLI. */
export interface Command {
  readonly name: string
  /** One line for the global help. */
  readonly summary: string
  /** The full help text of the command. */
  readonly help: string
  readonly flags: FlagSpecs
  /** Runs the command with its arguments (the command name removed); resolves to the exit code. */
  execute(argv: readonly string[], io: CliIO): Promise<number>
}

/** Flags every command accepts. */
export const COMMON_FLAGS: FlagSpecs = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean' },
}

/** Flags of the commands that run a workflow. */
export const RUN_FLAGS: FlagSpecs = {
  ...COMMON_FLAGS,
  input: { type: 'string', multiple: true, short: 'i' },
  json: { type: 'boolean' },
  concurrency: { type: 'string' },
  'no-live': { type: 'boolean' },
}
