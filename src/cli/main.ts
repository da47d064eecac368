#!/usr/bin/env node
/**
 * The `flotilla` command: `run`, `validate`, `demo`, `runs <subcommand>`,
 * `recover`, `worker`, `serve`, `keys`, `audit` and `agent run`, `--help` on
 * each, `--version`. Usage errors exit with 2,
 * any other failure with 1.
 *
 * @packageDocumentation
 */
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { toFlotillaError } from '../core/errors.js'
import { agentCommand } from './agent-command.js'
import { usageError } from './args.js'
import { auditCommand } from './audit-command.js'
import type { Command } from './command.js'
import { demoCommand } from './demo-command.js'
import { stackOf, type CliIO } from './execute-run.js'
import { keysCommand } from './keys-command.js'
import { runCommand } from './run-command.js'
import { runsCommand } from './runs-command.js'
import { recoverCommand } from './runs-resume.js'
import { serveCommand } from './serve-command.js'
import { validateCommand } from './validate-command.js'
import { workerCommand } from './worker-command.js'

/** The top-level commands, in the order of the help. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  validateCommand,
  demoCommand,
  runsCommand,
  recoverCommand,
  workerCommand,
  serveCommand,
  keysCommand,
  auditCommand,
  agentCommand,
]

/** The version of the package. */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown
    }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

/** The help of `flotilla` itself. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `flotilla ${version()}: run teams of AI agents

Usage: flotilla <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`).join('\n')}

Options:
  -h, --help      Show help (also "flotilla <command> --help")
  -v, --version   Show the version
  --store SPEC    Where runs are stored, for every command that runs or manages
                  them (may come before the command): a file (runs.db,
                  sqlite:PATH), postgres://user@host:port/db, or memory.
                  Default: $FLOTILLA_STORE, else .flotilla/flotilla.db here

Examples:
  flotilla demo
  flotilla validate examples/scan-and-fix/workflow.yaml
  flotilla run examples/scan-and-fix/workflow.yaml --input apply=false
  flotilla runs list
  flotilla recover
  flotilla worker --store postgres://postgres@127.0.0.1:5432/app --agents ./agents.mjs
  flotilla serve --workflows ./workflows --agents ./agents.mjs
  flotilla keys create --name ci --role SERVICE --ttl 30d
  flotilla agent run agent.yaml --input '{"text":"hi"}'`
}

/** True when the arguments (before a `--`) ask for help. */
function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** Moves `--store SPEC` given before the command to after it: `flotilla --store x runs list`. */
function hoistStore(argv: readonly string[]): string[] {
  const lead: string[] = []
  let i = 0
  while (i < argv.length) {
    if (argv[i] === '--store' && i + 1 < argv.length) {
      lead.push(argv[i], argv[i + 1])
      i += 2
    } else if (argv[i].startsWith('--store=')) {
      lead.push(argv[i])
      i += 1
    } else break
  }
  return [...argv.slice(i), ...lead]
}

/** The command named by the first words of `argv` (a subcommand when there is one), and the rest. */
function resolveCommand(words: readonly string[]): { command: Command | undefined; rest: readonly string[] } {
  const [name, ...rest] = words
  const command = COMMANDS.find((c) => c.name === name)
  if (command?.subcommands === undefined) return { command, rest }
  const sub =
    rest[0] === undefined ? undefined : command.subcommands.find((c) => c.name === `${command.name} ${rest[0]}`)
  return sub === undefined ? { command, rest } : { command: sub, rest: rest.slice(1) }
}

function commandNames(): string {
  return COMMANDS.map((c) => c.name).join(', ')
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and resolves to
 * the exit code. Errors are printed as `error [CODE]: message`, with the
 * stack only under `--verbose`.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['validate', 'workflow.yaml'], { out: process.stdout, err: process.stderr })
 * ```
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const args = hoistStore(argv)
  const [name] = args
  const { command, rest } = resolveCommand(args)
  try {
    if (name === undefined) {
      io.err.write(`${globalHelp()}\n`)
      throw usageError(undefined, 'No command given.')
    }
    if (name === '--version' || name === '-v') {
      io.out.write(`${version()}\n`)
      return 0
    }
    if (name === '--help' || name === '-h') {
      io.out.write(`${globalHelp()}\n`)
      return 0
    }
    if (name === 'help') {
      const topic = args.length > 1 ? resolveCommand(args.slice(1)) : undefined
      if (topic !== undefined && (topic.command === undefined || topic.rest.length > 0)) {
        throw usageError(undefined, `Unknown command "${args.slice(1).join(' ')}". Commands: ${commandNames()}.`)
      }
      io.out.write(`${topic?.command ? topic.command.help : globalHelp()}\n`)
      return 0
    }
    if (command === undefined) {
      const what = name.startsWith('-') ? `Unknown flag "${name}"` : `Unknown command "${name}"`
      throw usageError(undefined, `${what}. Commands: ${commandNames()}.`)
    }
    if (wantsHelp(rest)) {
      io.out.write(`${command.help}\n`)
      return 0
    }
    if (command.subcommands !== undefined) {
      const subs = command.subcommands.map((c) => c.name.slice(command.name.length + 1)).join(', ')
      if (rest[0] === undefined || rest[0].startsWith('-')) {
        io.err.write(`${command.help}\n`)
        throw usageError(command.name, `"flotilla ${command.name}" needs a subcommand: ${subs}.`)
      }
      throw usageError(
        command.name,
        `Unknown subcommand "${rest[0]}" of "flotilla ${command.name}". Subcommands: ${subs}.`,
      )
    }
    return await command.execute(rest, io)
  } catch (e) {
    return reportError(e, command?.name, argv, io)
  }
}

function reportError(e: unknown, command: string | undefined, argv: readonly string[], io: CliIO): number {
  const error = toFlotillaError(e, 'INTERNAL')
  const verbose = argv.includes('--verbose')
  if (argv.includes('--json')) io.out.write(`${JSON.stringify({ ok: false, error: error.toJSON() }, null, 2)}\n`)
  io.err.write(`error [${error.code}]: ${error.message}\n`)
  if (error.code === 'CLI_USAGE') {
    io.err.write(`Run "flotilla${command ? ` ${command}` : ''} --help" for usage.\n`)
    return 2
  }
  if (verbose) io.err.write(`${stackOf(error)}\n`)
  else if (error.code === 'INTERNAL')
    io.err.write('This looks like a bug in Flotilla; run again with --verbose for the stack trace and report it.\n')
  return 1
}

function isEntryPoint(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  // A reader that stops early (`flotilla runs show … | head`) closes the pipe: end quietly, as other command-line tools do.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e
      process.exit(process.exitCode ?? 0)
    })
  const code = await main(process.argv.slice(2), { out: process.stdout, err: process.stderr })
  process.exitCode = code
  // A handler that ignored its abort signal may hold the event loop open: do not wait for it.
  setTimeout(() => process.exit(code), 250).unref()
}
