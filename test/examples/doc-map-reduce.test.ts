import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt, ROOT, tempDir } from '../cli/run-cli.js'

const EXAMPLE = join(ROOT, 'examples/doc-map-reduce')
const DOCS = join(EXAMPLE, 'docs')

interface WordCount {
  word: string
  count: number
}
interface Report {
  documents: number
  totals: { words: number; lines: number; bytes: number; readingSeconds: number }
  topWords: WordCount[]
  longest: { file: string; words: number } | null
  perDocument: { file: string; words: number; lines: number; readingSeconds: number; topWords: WordCount[] }[]
}
interface Output {
  state: string
  folder: string
  files: string[]
  skipped: { file: string; error?: string }[]
  report: Report
}

function runExample(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(EXAMPLE, 'run.mjs'), ...args],
      { cwd, timeout: 20_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr })
      },
    )
  })
}

/** Words and lines of a file, counted here with a plain split (not with the agents' code). */
function count(path: string): { words: number; lines: number } {
  const text = readFileSync(path, 'utf8')
  const words = text.split(/\s+/).filter((w) => w.length > 0).length
  const lines = text === '' ? 0 : text.replace(/\n$/, '').split('\n').length
  return { words, lines }
}

const tmp = tempDir('flotilla-doc-map-reduce-')
beforeAll(() => ensureBuilt())
afterAll(() => tmp.cleanup())

describe('examples/doc-map-reduce', () => {
  const names = readdirSync(DOCS)
    .filter((n) => n.endsWith('.txt'))
    .sort()
  const expected = names.map((file) => ({ file, ...count(join(DOCS, file)) }))

  it('ships 8 documents, one of them empty', () => {
    expect(names).toHaveLength(8)
    expect(expected.filter((d) => d.words === 0).map((d) => d.file)).toEqual(['empty.txt'])
  })

  it('adds up the statistics of every shipped document (--json)', async () => {
    const r = await runExample(['--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as Output
    expect(out.state).toBe('SUCCEEDED')
    expect(out.folder).toBe(DOCS)
    expect(out.files).toEqual(names)
    expect(out.skipped).toEqual([])

    const words = expected.reduce((n, d) => n + d.words, 0)
    const lines = expected.reduce((n, d) => n + d.lines, 0)
    const longest = [...expected].sort((a, b) => b.words - a.words)[0]
    // The figures README.md states, recomputed from the files.
    expect([words, lines, longest.file, longest.words]).toEqual([669, 67, 'bees.txt', 121])

    const report = out.report
    expect(report.documents).toBe(8)
    expect(report.totals).toEqual({
      words,
      lines,
      bytes: names.reduce((n, f) => n + readFileSync(join(DOCS, f)).length, 0),
      readingSeconds: Math.round((words * 60) / 200),
    })
    expect(report.longest).toEqual({ file: longest.file, words: longest.words })
    expect(report.perDocument.map(({ file, words, lines }) => ({ file, words, lines }))).toEqual(expected)
    expect(report.perDocument.find((d) => d.file === 'empty.txt')).toEqual({
      file: 'empty.txt',
      words: 0,
      lines: 0,
      readingSeconds: 0,
      topWords: [],
    })

    // "sleep" appears 7 times in sleep.txt (and nowhere else): the overall top word.
    const sleepCount = (readFileSync(join(DOCS, 'sleep.txt'), 'utf8').match(/\bsleep\b/gi) ?? []).length
    expect(sleepCount).toBe(7)
    expect(report.topWords[0]).toEqual({ word: 'sleep', count: sleepCount })
    expect(report.topWords).toHaveLength(10)
    expect(report.perDocument.find((d) => d.file === 'bread.txt')?.topWords[0]).toEqual({ word: 'yeast', count: 5 })
    for (const d of report.perDocument) {
      expect(d.topWords.length).toBeLessThanOrEqual(5)
      for (const w of d.topWords) expect(['the', 'and', 'a', 'of', 'to', 'in', 'is']).not.toContain(w.word)
    }
  })

  it('prints a readable report', async () => {
    const r = await runExample([])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('8 read')
    expect(r.stdout).toContain('Totals: 669 words · 67 lines')
    expect(r.stdout).toContain('Longest: bees.txt (121 words)')
    expect(r.stdout).toMatch(/^Top words: sleep 7, /m)
    expect(r.stdout).toMatch(/^empty\.txt +0 +0 +0 s {2}-$/m)
  })

  it('skips a document that is not UTF-8 and reduces the rest', async () => {
    const dir = join(tmp.dir, 'mixed')
    mkdirSync(dir)
    writeFileSync(join(dir, 'a.txt'), 'one two three\nfour\n')
    writeFileSync(join(dir, 'b.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])) // "café" in Latin-1
    writeFileSync(join(dir, 'c.txt'), 'five six')
    writeFileSync(join(dir, 'notes.md'), 'not a text document')
    const r = await runExample(['mixed', '--json'], tmp.dir)
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as Output
    expect(out.files).toEqual(['a.txt', 'b.txt', 'c.txt'])
    expect(out.skipped).toEqual([
      { file: 'b.txt', state: 'FAILED', error: '[TASK_NON_RETRYABLE] b.txt is not valid UTF-8 text' },
    ])
    expect(out.report.documents).toBe(2)
    expect(out.report.totals).toMatchObject({ words: 6, lines: 3 })
    expect(out.report.longest).toEqual({ file: 'a.txt', words: 4 })
  })

  it('exits 1 on a folder without .txt files', async () => {
    const r = await runExample([tmp.dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('holds no .txt files')
  })
})
