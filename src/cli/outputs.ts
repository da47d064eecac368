import type { Paint } from './format.js'
import { compileWorkflow } from '../workflows/compile.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import type { TaskRecord } from '../store/records.js'

/** Limits of {@link formatOutputs}. */
export interface OutputLimits {
  /** Most tasks whose output is shown. @default 5 */
  maxTasks?: number
  /** Most lines shown of one output. @default 12 */
  maxLines?: number
  /** Most characters of one line. @default 160 */
  width?: number
  /** The command that prints every output in full. @default "--json" */
  hint?: string
}

/** The lines of a value: a text as its lines; a value whose JSON fits in `room` on one line; else indented JSON. */
function render(value: unknown, room: number): string[] {
  if (value === undefined) return ['(no output)']
  if (typeof value === 'string') return value.length === 0 ? ['""'] : value.split(/\r?\n/)
  try {
    const compact = JSON.stringify(value) ?? String(value)
    if ([...compact].length <= room) return [compact]
    return (JSON.stringify(value, null, 2) ?? String(value)).split('\n')
  } catch {
    return [String(value)]
  }
}

function clipLine(line: string, width: number): { text: string; cut: boolean } {
  const chars = [...line]
  return chars.length <= width
    ? { text: line, cut: false }
    : { text: `${chars.slice(0, Math.max(1, width - 1)).join('')}…`, cut: true }
}

/**
 * The final outputs of a run, readable: a text output as its lines, any
 * other value as indented JSON, each cut to a few lines with a hint to the
 * command that prints them in full. Empty when there is nothing to show.
 *
 * @example
 * ```ts
 * process.stdout.write(formatOutputs([['report', { fixed: 3 }]], paint(false)))
 * ```
 */
export function formatOutputs(
  outputs: readonly (readonly [string, unknown])[],
  p: Paint,
  limits: OutputLimits = {},
): string {
  if (outputs.length === 0) return ''
  const maxTasks = limits.maxTasks ?? 5
  const maxLines = limits.maxLines ?? 12
  const width = limits.width ?? 160
  const lines = [`  ${outputs.length === 1 ? 'output' : 'outputs'}`]
  let truncated = false
  for (const [id, value] of outputs.slice(0, maxTasks)) {
    const body = render(value, Math.min(100, width - id.length - 6))
    const single = body.length === 1
    const shown = body.slice(0, maxLines).map((l) => {
      const c = clipLine(l, width - (single ? id.length + 6 : 6))
      truncated ||= c.cut
      return c.text
    })
    if (single) lines.push(`    ${p.bold(id)}: ${shown[0]}`)
    else {
      lines.push(`    ${p.bold(id)}:`)
      for (const l of shown) lines.push(`      ${l}`)
    }
    if (body.length > maxLines) {
      truncated = true
      lines.push(p.dim(`      … ${body.length - maxLines} more ${body.length - maxLines === 1 ? 'line' : 'lines'}`))
    }
  }
  if (outputs.length > maxTasks) {
    truncated = true
    lines.push(p.dim(`    … and ${outputs.length - maxTasks} more outputs`))
  }
  if (truncated) lines.push(p.dim(`    (cut short: ${limits.hint ?? '--json'} prints every output in full)`))
  return `${lines.join('\n')}\n`
}

/**
 * The final outputs of a stored run: outputs of the succeeded tasks its
 * pinned definition names in `outputs`, else of those no task depends on
 * (every succeeded task's output when the definition cannot be read).
 */
export function storedFinalOutputs(definition: unknown, tasks: readonly TaskRecord[]): [string, unknown][] {
  let finals: Set<string> | undefined
  try {
    const wf = compileWorkflow(definition as WorkflowSpec)
    finals = new Set(Array.from(wf.finals, (i) => wf.tasks[i].id))
  } catch {
    finals = undefined
  }
  return tasks
    .filter((t) => t.state === 'SUCCEEDED' && (finals === undefined || finals.has(t.taskId)))
    .map((t) => [t.taskId, t.output])
}

/** Width for lines of outputs on a stream: its columns on a terminal, else 160. */
export function outputWidth(columns: number | undefined): number {
  return columns !== undefined && columns > 0 ? Math.max(40, columns - 1) : 160
}
