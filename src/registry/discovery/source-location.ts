import { execFile } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** A place in a source file; `column` is 1-based and absent when unknown. */
export interface SourceLocation {
  /** Absolute path of the file. */
  file: string
  /** 1-based line. */
  line: number
  /** 1-based column, when known. */
  column?: number
}

/** Longest time `node --check` may take before the location is given up. */
const CHECK_TIMEOUT_MS = 10_000

function toPath(where: string): string {
  if (!where.startsWith('file:')) return where
  try {
    return fileURLToPath(where)
  } catch {
    return where
  }
}

/**
 * Reads the location out of the message Node prints for a syntax error:
 *
 * ```
 * /abs/agents/broken.agent.mjs:4
 *   y: 2 3
 *        ^
 *
 * SyntaxError: Unexpected number
 * ```
 *
 * The caret's offset on its line is the column (Node copies tabs, so the
 * offset is in characters of the source line). `undefined` when the text
 * holds no such header.
 *
 * @example
 * ```ts
 * parseSyntaxArrow('/a.mjs:4\n  y: 2 3\n       ^\n\nSyntaxError: Unexpected number') // { file: '/a.mjs', line: 4, column: 8 }
 * ```
 */
export function parseSyntaxArrow(text: string): SourceLocation | undefined {
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const m = /^(.+):(\d+)$/.exec(lines[i])
    if (m === null || m[1].startsWith('(node:')) continue
    const caretLine = lines[i + 2] ?? ''
    const location: SourceLocation = { file: toPath(m[1]), line: Number(m[2]) }
    if (/^\s*\^+\s*$/.test(caretLine)) location.column = caretLine.indexOf('^') + 1
    return location
  }
  return undefined
}

/**
 * Where the syntax error of `file` is, found by parsing the file on its own
 * with `node --check` (Node does not expose the location of a syntax error
 * met by `import()` of an ES module, only prints it when the error is
 * uncaught). Resolves `undefined` when the file parses (the error is then in
 * a module it imports), or Node prints no location. Runs only on the
 * failure path: it costs one short-lived process.
 *
 * @example
 * ```ts
 * await syntaxErrorLocation('/abs/agents/broken.agent.mjs') // { file: '/abs/agents/broken.agent.mjs', line: 4, column: 8 }
 * ```
 */
export function syntaxErrorLocation(file: string): Promise<SourceLocation | undefined> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--check', file],
      { timeout: CHECK_TIMEOUT_MS, windowsHide: true, encoding: 'utf8' },
      (err, _stdout, stderr) => {
        resolve(err === null ? undefined : parseSyntaxArrow(stderr))
      },
    )
  })
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * The first stack frame of `error` inside `file` (its path or `file:` URL,
 * with any `?query`), e.g. where a module threw at its top level; `undefined`
 * when the stack does not mention the file.
 *
 * @example
 * ```ts
 * stackLocation(new Error('boom'), '/abs/agents/throws.agent.mjs') // { file: '/abs/agents/throws.agent.mjs', line: 3, column: 7 } when thrown there
 * ```
 */
export function stackLocation(error: unknown, file: string): SourceLocation | undefined {
  const stack = error instanceof Error ? error.stack : undefined
  if (stack === undefined) return undefined
  const names = [pathToFileURL(file).href, file].map(escapeRegExp).join('|')
  const m = new RegExp(`(?:${names})(?:\\?[^:\\s)]*)?:(\\d+):(\\d+)`).exec(stack)
  return m === null ? undefined : { file, line: Number(m[1]), column: Number(m[2]) }
}

/**
 * Where importing `file` failed: the location of a syntax error in the file
 * itself, as `node --check` reports it, else the first stack frame inside the
 * file (a throw at its top level). `undefined` when neither says. The check
 * runs for any failure, not only a `SyntaxError`: a loader or bundler in
 * between (a test runner, a TypeScript hook) may rename or rewrap the error.
 */
export async function importFailureLocation(error: unknown, file: string): Promise<SourceLocation | undefined> {
  return (await syntaxErrorLocation(file)) ?? stackLocation(error, file)
}
