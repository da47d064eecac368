/**
 * Quotes an identifier (a schema, table or channel name) for SQL text. The
 * names Flotilla quotes are checked first to hold only letters, digits and
 * underscores; doubling `"` keeps any other name one identifier too.
 *
 * @example
 * ```ts
 * const table = `${quoteIdent('flotilla')}.runs` // "flotilla".runs
 * ```
 */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/**
 * Quotes a text as an SQL string literal (for DDL, where parameters cannot go).
 *
 * @example
 * ```ts
 * const lock = `SELECT hashtext(${quoteLiteral("it's")})` // 'it''s'
 * ```
 */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}
