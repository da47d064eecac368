import { parseArgs } from 'node:util'
import type { z } from 'zod'
import { FlotillaError } from '../core/errors.js'

/** One flag a command accepts. */
export interface FlagSpec {
  type: 'string' | 'boolean'
  /** May be given several times (values collect into a list). */
  multiple?: boolean
  /** One-letter alias, e.g. `i` for `-i`. */
  short?: string
}

/** Flags of a command, by long name (without `--`). */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>

/** Raw result of splitting a command line. */
export interface RawArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>
  positionals: string[]
}

/** A `CLI_USAGE` error for `command`. */
export function usageError(command: string | undefined, message: string): FlotillaError {
  return new FlotillaError('CLI_USAGE', message, { details: { command: command ?? '' } })
}

/**
 * Splits `argv` by the flags of `command`; an unknown flag, a missing value
 * or a value given to a boolean flag throws `CLI_USAGE`.
 *
 * @example
 * ```ts
 * const { values, positionals } = splitArgs('run', ['wf.yaml', '--json'], { json: { type: 'boolean' } })
 * ```
 */
export function splitArgs(command: string, argv: readonly string[], flags: FlagSpecs): RawArgs {
  try {
    const parsed = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: true })
    return { values: parsed.values, positionals: parsed.positionals }
  } catch (e) {
    const code = (e as { code?: unknown }).code
    const message = e instanceof Error ? e.message : String(e)
    const flag = /'(-[^']*)'/.exec(message)?.[1] ?? ''
    const name = flag.replace(/^-+/, '').split(/[ =]/)[0]
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw usageError(
        command,
        `Unknown flag "${flag}" for "flotilla ${command}". Flags: ${Object.keys(flags)
          .map((f) => `--${f}`)
          .join(', ')}.`,
      )
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const spec = flags[name]
      const why = spec?.type === 'boolean' ? 'takes no value' : 'needs a value'
      throw usageError(command, `Flag "--${name || flag}" of "flotilla ${command}" ${why}.`)
    }
    throw usageError(command, `Cannot read the arguments of "flotilla ${command}": ${message}`)
  }
}

/** Option keys that hold positional arguments, with the name the help gives them. */
const POSITIONAL_LABELS: Readonly<Record<string, string>> = { file: '<file>', id: '<run-id>' }

/**
 * Validates a command's options object with its zod schema; a failure
 * becomes `CLI_USAGE` naming the flag, or the positional argument (`<file>`,
 * `<run-id>`, or as `positionals` names them) for keys that hold one.
 */
export function validateOptions<T>(
  command: string,
  schema: z.ZodType<T>,
  raw: unknown,
  positionals: Readonly<Record<string, string>> = POSITIONAL_LABELS,
): T {
  const parsed = schema.safeParse(raw)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const key = issue?.path[0]
  const positional = typeof key === 'string' && Object.hasOwn(positionals, key) ? positionals[key] : undefined
  const label = positional ?? (key === undefined ? 'arguments' : `--${String(key)}`)
  throw usageError(command, `"flotilla ${command}" ${label}: ${issue?.message ?? 'invalid'}.`)
}

/** Positional arguments beyond `max` are a usage error. */
export function expectPositionals(
  command: string,
  positionals: readonly string[],
  names: readonly string[],
): (string | undefined)[] {
  if (positionals.length > names.length) {
    const extra = positionals
      .slice(names.length)
      .map((p) => `"${p}"`)
      .join(', ')
    throw usageError(
      command,
      `Unexpected argument ${extra} for "flotilla ${command}"; it takes ${names.length === 0 ? 'no arguments' : names.map((n) => `<${n}>`).join(' ')}.`,
    )
  }
  return names.map((_, i) => positionals[i])
}

/** Keys refused in dotted paths (`--input`, `--set`): they would reach object prototypes. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** Parses one `--input` value: JSON when it is valid JSON (numbers, booleans, objects…), else the text itself. */
export function parseInputValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** The declared type of a workflow input, as far as `--input` needs it. */
export interface DeclaredInput {
  type?: 'string' | 'number' | 'boolean' | 'object' | 'array' | undefined
}

/**
 * Turns `key=value` pairs into an input object. A value is typed by the
 * workflow's declaration of its (top-level) input when there is one: a
 * `string` input keeps the text as it is (`--input name=42` gives "42");
 * any other value is parsed as JSON when it is valid JSON, else kept as
 * text. Dotted keys (`a.b=1`) build nested objects. A malformed pair throws
 * `CLI_USAGE`.
 *
 * @example
 * ```ts
 * parseInputs('run', ['apply=true', 'limits.max=3', 'name=007'], { name: { type: 'string' } })
 * // { apply: true, limits: { max: 3 }, name: '007' }
 * ```
 */
export function parseInputs(
  command: string,
  pairs: readonly string[],
  declared: Readonly<Record<string, DeclaredInput>> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw usageError(command, `--input expects key=value, got "${pair}".`)
    const key = pair.slice(0, eq)
    const path = key.split('.')
    if (path.some((p) => p.length === 0 || FORBIDDEN_KEYS.has(p))) {
      throw usageError(
        command,
        `--input key "${key}" is malformed: use names separated by single dots, like limits.max.`,
      )
    }
    let target = out
    for (let i = 0; i < path.length - 1; i++) {
      const next = Object.hasOwn(target, path[i]) ? target[path[i]] : undefined
      if (next === undefined) target = target[path[i]] = {} as Record<string, unknown>
      else if (next !== null && typeof next === 'object' && !Array.isArray(next))
        target = next as Record<string, unknown>
      else
        throw usageError(
          command,
          `--input "${key}" conflicts with the value already given to "${path.slice(0, i + 1).join('.')}".`,
        )
    }
    const last = path[path.length - 1]
    if (Object.hasOwn(target, last)) throw usageError(command, `--input "${key}" is given twice.`)
    const text = pair.slice(eq + 1)
    const type = path.length === 1 && Object.hasOwn(declared, key) ? declared[key].type : undefined
    target[last] = type === 'string' ? text : parseInputValue(text)
  }
  return out
}

const AGE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/**
 * Parses an age such as `90s`, `15m`, `12h`, `30d` or `2w` into
 * milliseconds; anything else is `CLI_USAGE` naming `flag`.
 *
 * @example
 * ```ts
 * parseAge('runs prune', '--older-than', '30d') // 2592000000
 * ```
 */
export function parseAge(command: string, flag: string, text: string): number {
  const m = /^(\d+)([smhdw])$/.exec(text.trim())
  if (m === null)
    throw usageError(
      command,
      `${flag} expects an age: a whole number and a unit, s (seconds), m (minutes), h (hours), d (days) or w (weeks), as in 90s, 15m, 12h, 30d or 2w; got "${text}".`,
    )
  return Number(m[1]) * AGE_UNITS[m[2]]
}
