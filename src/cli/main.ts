#!/usr/bin/env node
/**
 * The `flotilla` command: `run`, `validate` and `demo`, `--help` on each,
 * `--version`. Usage errors exit with 2, any other failure with 1.
 *
 * @packageDocumentation
 */
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { toFlotillaError } from '../core/errors.js'
import { usageError } from './args.js'
import type { Command } from './command.js'
import { demoCommand } from './demo-command.js'
import { stackOf, type CliIO } from './execute-run.js'
import { runCommand } from './run-command.js'
import { validateCommand } from './validate-command.js'

const COMMANDS: readonly Command[] = [runCommand, validateCommand, demoCommand]

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `flotilla ${version()}: run teams of AI agents

Usage: flotilla <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`).join('\n')}

Options:
  -h, --help      Show help (also "flotilla <command> --help")
  -v, --version   Show the version

Examples:
  flotilla demo
  flotilla validate examples/scan-and-fix/workflow.yaml
  flotilla run examples/scan-and-fix/workflow.yaml --input apply=false`
}

/** True when the arguments (before a `--`) ask for help. */
function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h')
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
  const [name, ...rest] = argv
  const command = COMMANDS.find((c) => c.name === name)
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
      const topic = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0])
      if (rest[0] !== undefined && topic === undefined) throw usageError(undefined, `Unknown command "${rest[0]}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}.`)
      io.out.write(`${topic ? topic.help : globalHelp()}\n`)
      return 0
    }
    if (command === undefined) {
      const what = name.startsWith('-') ? `Unknown flag "${name}"` : `Unknown command "${name}"`
      throw usageError(undefined, `${what}. Commands: ${COMMANDS.map((c) => c.name).join(', ')}.`)
    }
    if (wantsHelp(rest)) {
      io.out.write(`${command.help}\n`)
      return 0
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
  else if (error.code === 'INTERNAL') io.err.write('This looks like a bug in Flotilla; run again with --verbose for the stack trace and report it.\n')
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
  const code = await main(process.argv.slice(2), { out: process.stdout, err: process.stderr })
  process.exitCode = code
  // A handler that ignored its abort signal may hold the event loop open: do not wait for it.
  setTimeout(() => process.exit(code), 250).unref()
}
