import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../src/core/errors.js'
import { ROLE_DESCRIPTIONS, ROLE_GRANTS, ROLES } from '../../src/security/roles.js'

/**
 * The role table of docs/security.md is generated from ROLE_GRANTS and
 * ROLE_DESCRIPTIONS by this file. After changing a role, regenerate it with
 *   UPDATE_SECURITY_DOC=1 npx vitest run test/docs/security-doc.test.ts
 */
const DOC = fileURLToPath(new URL('../../docs/security.md', import.meta.url))
const HEADER = '| role | what it is for | grants |'

/** The rows of the role table, as the code defines the roles. */
function roleTable(): string[] {
  const escape = (text: string): string => text.replace(/\|/g, '\\|')
  return [
    HEADER,
    '| --- | --- | --- |',
    ...ROLES.map((role) => {
      const grants = ROLE_GRANTS[role].map((g) => `\`${escape(g.resource)}\`: ${g.actions.join(', ')}`).join('<br>')
      return `| \`${role}\` | ${escape(ROLE_DESCRIPTIONS[role])} | ${grants} |`
    }),
  ]
}

/** The lines of the table in `text` (from its header to the first line that is not a row), and where it starts. */
function tableIn(lines: readonly string[]): { start: number; rows: string[] } {
  const start = lines.indexOf(HEADER)
  if (start < 0) throw new Error(`docs/security.md has no role table ("${HEADER}")`)
  let end = start
  while (end < lines.length && (lines[end] ?? '').startsWith('|')) end++
  return { start, rows: lines.slice(start, end) }
}

describe('docs/security.md', () => {
  it('shows the role table of the code (regenerate with UPDATE_SECURITY_DOC=1)', () => {
    let lines = readFileSync(DOC, 'utf8').split('\n')
    if (process.env.UPDATE_SECURITY_DOC === '1') {
      const { start, rows } = tableIn(lines)
      lines = [...lines.slice(0, start), ...roleTable(), ...lines.slice(start + rows.length)]
      writeFileSync(DOC, lines.join('\n'))
    }
    expect(
      tableIn(lines).rows,
      'the role table is out of date: run UPDATE_SECURITY_DOC=1 npx vitest run test/docs/security-doc.test.ts',
    ).toEqual(roleTable())
    expect(lines.filter((l) => l.startsWith('| role |'))).toHaveLength(1)
  })

  it('states the key format, the defaults of the guard and the codes a client sees', () => {
    const text = readFileSync(DOC, 'utf8')
    for (const fact of [
      'flt_<id>_<secret>',
      '256 random bits',
      '600 requests in\n60 seconds',
      'Retry-After',
      'More than 20 authentication failures',
      '15 minutes',
      'DELETE /api/v1/security/blocks/{target}',
      'flotilla audit verify --head',
      'FLOTILLA_ADMIN_KEY',
    ])
      expect(text, fact).toContain(fact)
    for (const code of text.match(/`[A-Z][A-Z_]+[A-Z]`/g) ?? []) {
      const name = code.slice(1, -1)
      if ((ROLES as readonly string[]).includes(name) || name.startsWith('ROLE_') || name.startsWith('FLOTILLA_'))
        continue
      expect(Object.keys(ERROR_CODES), `${code} named in docs/security.md is an error code`).toContain(name)
    }
  })
})
