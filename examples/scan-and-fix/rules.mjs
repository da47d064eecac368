// The rules of the scan-and-fix example: pure functions, no I/O.
// scanBytes() finds problems in one file; fixText() repairs the fixable ones.

/** Lines longer than this many characters are reported. */
export const MAX_LINE_LENGTH = 100
/** Tab stops used when tabs in indentation become spaces. */
export const TAB_WIDTH = 4

/** Every rule, whether the fixer can repair it, and what it checks. */
export const RULES = {
  'trailing-whitespace': { fixable: true, description: 'spaces or tabs at the end of a line' },
  'final-newline': { fixable: true, description: 'the file does not end with a newline' },
  'mixed-indentation': {
    fixable: true,
    description: 'indentation mixes tabs and spaces (in the line or across the file)',
  },
  crlf: { fixable: true, description: 'Windows (CRLF) line endings' },
  'line-too-long': { fixable: false, description: `lines over ${MAX_LINE_LENGTH} characters` },
  todo: { fixable: false, description: 'TODO and FIXME markers' },
  'empty-file': { fixable: false, description: 'the file is empty' },
  'not-utf8': { fixable: false, description: 'the file is not valid UTF-8' },
}

/** Rule names, for schemas. */
export const RULE_NAMES = /** @type {[string, ...string[]]} */ (Object.keys(RULES))

const decoder = new TextDecoder('utf-8', { fatal: true })
const TRAILING = /[ \t]+$/
const MARKER = /\b(TODO|FIXME)\b/

/**
 * @typedef {{ file: string, line: number, rule: string, message: string, fixable: boolean }} Problem
 */

/** @returns {Problem} */
function problem(file, line, rule, message) {
  return { file, line, rule, message, fixable: RULES[rule].fixable }
}

/** The lines of a text without their terminators; `crlf` tells which ended in CRLF. */
function splitLines(text) {
  const raw = text.split('\n')
  if (text.endsWith('\n')) raw.pop()
  const crlf = raw.map((l) => l.endsWith('\r'))
  const lines = raw.map((l, i) => (crlf[i] ? l.slice(0, -1) : l))
  return { lines, crlf }
}

/**
 * Problems of one file (`file` is its path relative to the scanned root).
 * Line numbers start at 1; 0 means the whole file.
 *
 * @param {string} file
 * @param {Uint8Array} bytes
 * @returns {Problem[]}
 */
export function scanBytes(file, bytes) {
  if (bytes.length === 0) return [problem(file, 0, 'empty-file', 'file is empty: delete it or give it content')]
  let text
  try {
    text = decoder.decode(bytes)
  } catch {
    return [problem(file, 0, 'not-utf8', 'file is not valid UTF-8: convert it, e.g. iconv -f latin1 -t utf-8')]
  }
  const { lines, crlf } = splitLines(text)
  const usesSpaces = lines.some((l) => /^ +\S/.test(l))
  const out = []
  lines.forEach((line, i) => {
    const n = i + 1
    if (TRAILING.test(line)) out.push(problem(file, n, 'trailing-whitespace', 'trailing whitespace'))
    const indent = /^[ \t]*/.exec(line)[0]
    if (line.trim() !== '' && indent.includes('\t') && (indent.includes(' ') || usesSpaces)) {
      out.push(
        problem(
          file,
          n,
          'mixed-indentation',
          indent.includes(' ') ? 'indentation mixes tabs and spaces' : 'tab indentation in a file indented with spaces',
        ),
      )
    }
    const length = [...line].length
    if (length > MAX_LINE_LENGTH)
      out.push(problem(file, n, 'line-too-long', `line is ${length} characters long (limit ${MAX_LINE_LENGTH})`))
    const marker = MARKER.exec(line)
    if (marker) out.push(problem(file, n, 'todo', `${marker[1]} marker: ${line.trim().slice(0, 60)}`))
  })
  const crlfCount = crlf.filter(Boolean).length
  if (crlfCount > 0)
    out.push(problem(file, crlf.indexOf(true) + 1, 'crlf', `${crlfCount} of ${lines.length} lines end in CRLF`))
  if (!text.endsWith('\n')) out.push(problem(file, lines.length, 'final-newline', 'no newline at the end of the file'))
  return out.sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule))
}

function expandIndent(line) {
  const indent = /^[ \t]*/.exec(line)[0]
  if (!indent.includes('\t') || line.trim() === '') return line
  let col = 0
  for (const ch of indent) col += ch === '\t' ? TAB_WIDTH - (col % TAB_WIDTH) : 1
  return ' '.repeat(col) + line.slice(indent.length)
}

/**
 * Applies the fixes of the given rules to a whole text. Idempotent: fixing
 * a fixed text changes nothing.
 *
 * @param {string} text
 * @param {ReadonlySet<string>} rules
 * @returns {string}
 */
export function fixText(text, rules) {
  let t = text
  if (rules.has('crlf')) t = t.replace(/\r\n/g, '\n')
  if (rules.has('trailing-whitespace'))
    t = t
      .split('\n')
      .map((l) => l.replace(/[ \t]+(\r?)$/, '$1'))
      .join('\n')
  if (rules.has('mixed-indentation')) t = t.split('\n').map(expandIndent).join('\n')
  if (rules.has('final-newline') && t.length > 0 && !t.endsWith('\n')) t += t.includes('\r\n') ? '\r\n' : '\n'
  return t
}
