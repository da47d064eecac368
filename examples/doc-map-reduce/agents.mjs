// The agents of the doc-map-reduce example: doc-stats (the map) and merge-stats (the reduce).
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { z } from 'zod'
import { defineAgent, nonRetryable } from 'flotilla'

/** Words per minute used for reading times. */
export const WORDS_PER_MINUTE = 200

/** Common English words left out of the top words. */
export const STOP_WORDS = new Set(
  `
a about above after again against all also am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself him himself
his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves one two many much may might must often still yet
`
    .split(/\s+/)
    .filter(Boolean),
)

/**
 * The words of a text: its whitespace-separated tokens. For the top words a
 * token is lowercased and stripped of leading and trailing punctuation
 * ("Bees," → "bees"; "sixty-four" stays whole).
 */
export const tokens = (text) => text.split(/\s+/).filter((t) => t !== '')
const normalise = (token) => token.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')

/** Lines of a text: 0 when empty, a final newline does not start a line. */
export const lineCount = (text) => (text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0))

/** Reading time in whole seconds at {@link WORDS_PER_MINUTE}. */
export const readingSeconds = (words) => Math.round((words * 60) / WORDS_PER_MINUTE)

/** The `n` most frequent words of a count table: by count, then alphabetically. */
export function topWords(counts, n) {
  return Object.entries(counts)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, n)
    .map(([word, count]) => ({ word, count }))
}

const wordCountSchema = z.object({ word: z.string(), count: z.number().int().min(1) })
const docStatsSchema = z.object({
  file: z.string(),
  path: z.string(),
  bytes: z.number().int(),
  words: z.number().int(),
  lines: z.number().int(),
  readingSeconds: z.number().int(),
  topWords: z.array(wordCountSchema).max(5),
  /** Every word that is not a stop word, with its count: what the reduce adds up. */
  wordCounts: z.record(z.string(), z.number().int()),
})

const decoder = new TextDecoder('utf-8', { fatal: true })

export const docStats = defineAgent({
  name: 'doc-stats',
  version: '1.0.0',
  description:
    'Counts the words and lines of one text document, its top 5 words (stop words excluded) and its reading time.',
  capabilities: ['doc-stats'],
  tags: ['example', 'files'],
  maxConcurrency: 4,
  input: z.object({ file: z.string().min(1) }),
  output: docStatsSchema,
  async handler({ file }, ctx) {
    const bytes = await readFile(file, { signal: ctx.signal })
    let text
    try {
      text = decoder.decode(bytes)
    } catch {
      throw nonRetryable(new Error(`${basename(file)} is not valid UTF-8 text`))
    }
    const words = tokens(text)
    const wordCounts = {}
    for (const t of words) {
      const w = normalise(t)
      if (w.length < 2 || STOP_WORDS.has(w) || /^\p{N}+$/u.test(w)) continue
      wordCounts[w] = (wordCounts[w] ?? 0) + 1
    }
    return {
      file: basename(file),
      path: file,
      bytes: bytes.length,
      words: words.length,
      lines: lineCount(text),
      readingSeconds: readingSeconds(words.length),
      topWords: topWords(wordCounts, 5),
      wordCounts,
    }
  },
})

export const mergeStats = defineAgent({
  name: 'merge-stats',
  version: '1.0.0',
  description: 'Adds up the statistics of every document: totals, the overall top words, the longest document.',
  capabilities: ['merge-stats'],
  tags: ['example'],
  input: z.object({ items: z.array(docStatsSchema) }),
  output: z.object({
    documents: z.number().int(),
    totals: z.object({
      words: z.number().int(),
      lines: z.number().int(),
      bytes: z.number().int(),
      readingSeconds: z.number().int(),
    }),
    topWords: z.array(wordCountSchema),
    longest: z.object({ file: z.string(), words: z.number().int() }).nullable(),
    perDocument: z.array(
      z.object({
        file: z.string(),
        words: z.number().int(),
        lines: z.number().int(),
        readingSeconds: z.number().int(),
        topWords: z.array(wordCountSchema),
      }),
    ),
  }),
  handler({ items }) {
    const docs = [...items].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))
    const counts = {}
    for (const d of docs) for (const [w, n] of Object.entries(d.wordCounts)) counts[w] = (counts[w] ?? 0) + n
    const words = docs.reduce((n, d) => n + d.words, 0)
    // The first in name order wins a tie.
    const longest = docs.reduce((best, d) => (best === null || d.words > best.words ? d : best), null)
    return {
      documents: docs.length,
      totals: {
        words,
        lines: docs.reduce((n, d) => n + d.lines, 0),
        bytes: docs.reduce((n, d) => n + d.bytes, 0),
        readingSeconds: readingSeconds(words),
      },
      topWords: topWords(counts, 10),
      longest: longest === null ? null : { file: longest.file, words: longest.words },
      perDocument: docs.map(({ file, words, lines, readingSeconds, topWords }) => ({
        file,
        words,
        lines,
        readingSeconds,
        topWords,
      })),
    }
  },
})
