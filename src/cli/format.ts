/** ANSI styling helpers; every one returns its text unchanged when colour is off. */
export interface Paint {
  readonly enabled: boolean
  bold(text: string): string
  dim(text: string): string
  red(text: string): string
  green(text: string): string
  yellow(text: string): string
  cyan(text: string): string
}

const wrap =
  (on: boolean, open: number, close: number) =>
  (text: string): string =>
    on ? `\x1b[${open}m${text}\x1b[${close}m` : text

/**
 * Styling for a stream: colour when `enabled` and `NO_COLOR` is not set.
 *
 * @example
 * ```ts
 * const p = paint(process.stdout.isTTY === true)
 * console.log(p.green('✓ done'))
 * ```
 */
export function paint(enabled: boolean): Paint {
  const on = enabled && (process.env.NO_COLOR === undefined || process.env.NO_COLOR === '')
  return {
    enabled: on,
    bold: wrap(on, 1, 22),
    dim: wrap(on, 2, 22),
    red: wrap(on, 31, 39),
    green: wrap(on, 32, 39),
    yellow: wrap(on, 33, 39),
    cyan: wrap(on, 36, 39),
  }
}

/** Milliseconds as a short human duration: `850 ms`, `4.2 s`, `3 min 05 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  const minutes = Math.floor(ms / 60_000)
  const seconds = Math.round((ms % 60_000) / 1000)
  return `${minutes} min ${String(seconds).padStart(2, '0')} s`
}

/** A fraction in [0, 1] as a percentage with at most one decimal: `87.5%`. */
export function formatPercent(fraction: number): string {
  const p = Math.round(fraction * 1000) / 10
  return `${p}%`
}

/** Local wall-clock time of an epoch-ms timestamp as `HH:MM:SS`. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs)
  const two = (n: number): string => String(n).padStart(2, '0')
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g

/** Visible length of a string that may hold ANSI escapes. */
export function visibleLength(text: string): number {
  return [...text.replace(ANSI, '')].length
}

/** Cuts a line to `width` visible characters (dropping its styling when it must be cut). */
export function fitLine(text: string, width: number): string {
  if (visibleLength(text) <= width) return text
  const plain = [...text.replace(ANSI, '')]
  return `${plain.slice(0, Math.max(0, width - 1)).join('')}…`
}

/** Pads or cuts `text` to exactly `width` characters. */
export function cell(text: string, width: number): string {
  const chars = [...text]
  if (chars.length > width) return `${chars.slice(0, Math.max(0, width - 1)).join('')}…`
  return text + ' '.repeat(width - chars.length)
}

/**
 * Pads or cuts `text` to exactly `width` characters, cutting in the middle
 * (`map-reduce-…-item-12`) so that both the start and the end of an id
 * stay readable.
 */
export function middleCell(text: string, width: number): string {
  const chars = [...text]
  if (chars.length <= width) return text + ' '.repeat(width - chars.length)
  if (width <= 1) return '…'.slice(0, width)
  const tail = Math.floor((width - 1) / 2)
  const head = width - 1 - tail
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - tail).join('')}`
}

/** A progress bar of `width` cells for a fraction in [0, 1]. */
export function progressBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0))
  const full = Math.round(f * width)
  return '█'.repeat(full) + '░'.repeat(width - full)
}

/** Local date and time of an epoch-ms timestamp as `YYYY-MM-DD HH:MM:SS`; `–` when unknown. */
export function formatDateTime(epochMs: number | undefined): string {
  if (epochMs === undefined || !Number.isFinite(epochMs)) return '–'
  const d = new Date(epochMs)
  const two = (n: number): string => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${formatClock(epochMs)}`
}

/**
 * Rows under a header as aligned columns (two spaces apart, trailing
 * spaces trimmed); cells may hold ANSI styling.
 *
 * @example
 * ```ts
 * formatTable(['ID', 'STATE'], [['run_1', 'SUCCEEDED']], '  ')
 * ```
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], indent = ''): string {
  const widths = header.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))))
  const line = (cells: readonly string[]): string =>
    `${indent}${cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i] - visibleLength(c)))).join('  ')}`.trimEnd()
  return [line(header), ...rows.map(line)].map((l) => `${l}\n`).join('')
}
