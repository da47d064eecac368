import { FlotillaError } from './errors.js'

function badGlob(glob: string, why: string): FlotillaError {
  return new FlotillaError(
    'VALIDATION_FAILED',
    `Pattern "${glob}" is malformed: ${why}. Use *, ?, ** and {a,b}, like "**/*.agent.{js,mjs}".`,
    {
      details: { pattern: glob },
    },
  )
}

const SPECIAL = /[.+^$()|[\]\\]/

/** Converts `glob[from..]` up to one of `stops` (or the end); returns the source and where it stopped. */
function convert(glob: string, from: number, stops: string): { source: string; end: number } {
  let out = ''
  let i = from
  while (i < glob.length) {
    const ch = glob[i]
    if (stops.includes(ch)) break
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/' || glob[i - 1] === ':'
        const atEnd = i + 2 === glob.length || glob[i + 2] === '/'
        if (!atStart || !atEnd) throw badGlob(glob, '"**" must be a whole path segment')
        if (glob[i + 2] === '/') {
          out += '(?:[^/]*/)*' // zero or more folders
          i += 3
        } else {
          out += '.*'
          i += 2
        }
        continue
      }
      out += '[^/]*'
    } else if (ch === '?') {
      out += '[^/]'
    } else if (ch === '{') {
      const alternatives: string[] = []
      let j = i + 1
      for (;;) {
        const part = convert(glob, j, ',}')
        alternatives.push(part.source)
        if (part.end >= glob.length) throw badGlob(glob, 'a "{" has no closing "}"')
        j = part.end + 1
        if (glob[part.end] === '}') break
      }
      out += `(?:${alternatives.join('|')})`
      i = j
      continue
    } else if (ch === '}') {
      throw badGlob(glob, 'a "}" has no opening "{"')
    } else {
      out += SPECIAL.test(ch) ? `\\${ch}` : ch
    }
    i++
  }
  return { source: out, end: i }
}

/**
 * Converts a glob to a RegExp matching whole relative paths written with
 * `/`: `*` is any run of characters but `/`, `?` one such character,
 * `**` (a whole segment; `:` also starts one, for `kind:**` resource names) any number of folders, including none, and
 * `{a,b}` one of the alternatives (which may hold globs and nest). Other
 * characters match themselves. Throws `VALIDATION_FAILED` for an unbalanced
 * brace or a `**` inside a segment.
 *
 * @example
 * ```ts
 * globToRegExp('**\/*.agent.{js,mjs}').test('team/fixer.agent.mjs') // true
 * ```
 */
export function globToRegExp(glob: string): RegExp {
  if (typeof glob !== 'string' || glob.length === 0) throw badGlob(String(glob), 'it is empty')
  if (glob.startsWith('/')) throw badGlob(glob, 'it must be relative (no leading /)')
  const { source } = convert(glob, 0, '')
  return new RegExp(`^${source}$`)
}
