import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../src/core/errors.js'

const docPath = fileURLToPath(new URL('../../docs/errors.md', import.meta.url))
const doc = readFileSync(docPath, 'utf8')
const lines = doc.split(/\r?\n/)

interface DocRow {
  code: string
  status: number
  retryable: boolean
  meaning: string
}

/** Splits a markdown table row into trimmed cells, honouring `\|` escapes. */
function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '')
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'))
}

function parseTable(): DocRow[] {
  const header = lines.findIndex((l) =>
    /^\|\s*code\s*\|\s*HTTP status\s*\|\s*retryable\s*\|\s*meaning\s*\|\s*$/.test(l),
  )
  if (header < 0) throw new Error('docs/errors.md has no "| code | HTTP status | retryable | meaning |" table')
  const rows: DocRow[] = []
  for (const line of lines.slice(header + 2)) {
    if (!line.trim().startsWith('|')) break
    const [code, status, retryable, meaning, ...rest] = cells(line)
    expect(rest, `extra cells in row: ${line}`).toEqual([])
    expect(code, `code cell must be in backticks: ${line}`).toMatch(/^`[A-Z_]+`$/)
    expect(retryable, `retryable must be yes/no: ${line}`).toMatch(/^(yes|no)$/)
    expect(status, `status must be a number: ${line}`).toMatch(/^\d{3}$/)
    rows.push({
      code: code!.slice(1, -1),
      status: Number(status),
      retryable: retryable === 'yes',
      meaning: meaning ?? '',
    })
  }
  return rows
}

describe('docs/errors.md', () => {
  const rows = parseTable()
  const table = Object.entries(ERROR_CODES)

  it('is titled "Error codes" and has exactly one code table', () => {
    expect(lines[0]).toBe('# Error codes')
    expect(lines.filter((l) => /^\|\s*code\s*\|/.test(l))).toHaveLength(1)
    expect(lines[lines.findIndex((l) => /^\|\s*code\s*\|/.test(l)) + 1]).toMatch(/^\|(\s*:?-+:?\s*\|){4}$/)
  })

  it('lists exactly the codes of ERROR_CODES, in table order, without duplicates', () => {
    expect(rows.map((r) => r.code)).toEqual(Object.keys(ERROR_CODES))
    expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length)
  })

  it('gives each code the HTTP status of the table', () => {
    expect(rows.map((r) => [r.code, r.status])).toEqual(table.map(([code, e]) => [code, e.status]))
  })

  it('gives each code the retryable flag of the table', () => {
    expect(rows.map((r) => [r.code, r.retryable])).toEqual(table.map(([code, e]) => [code, e.retryable]))
  })

  it('uses the table description as the meaning (regenerate with scripts/write-errors-doc.mjs)', () => {
    expect(rows.map((r) => [r.code, r.meaning])).toEqual(table.map(([code, e]) => [code, e.description]))
  })

  it('mentions the recognition helpers in its introduction', () => {
    const intro = doc.slice(0, doc.indexOf('| code |'))
    for (const word of ['FlotillaError', 'code', 'retryable', 'isFlotillaError', 'nonRetryable', 'HTTP status']) {
      expect(intro.toLowerCase()).toContain(word.toLowerCase())
    }
  })
})
