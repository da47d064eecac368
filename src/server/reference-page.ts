/** One operation of an OpenAPI document, as the reference page lists it. */
interface Operation {
  summary?: string
  description?: string
  tags?: string[]
}

const escape = (s: string): string =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string)

/**
 * A self-contained HTML page listing every operation of the API (method,
 * path, summary), grouped by tag, with a link to the OpenAPI document: no
 * script, no external resource.
 */
export function apiReferencePage(doc: { paths?: Record<string, Record<string, unknown>> }): string {
  const groups = new Map<string, string[]>()
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, raw] of Object.entries(ops)) {
      const op = raw as Operation
      const tag = op.tags?.[0] ?? 'other'
      const row = `<tr><td class="m">${method.toUpperCase()}</td><td><code>${escape(path)}</code></td><td>${escape(op.summary ?? '')}${op.description === undefined ? '' : `<br><small>${escape(op.description)}</small>`}</td></tr>`
      groups.set(tag, [...(groups.get(tag) ?? []), row])
    }
  }
  const sections = [...groups.entries()]
    .map(([tag, rows]) => `<h2>${escape(tag)}</h2><table>${rows.join('')}</table>`)
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; } td { border-top: 1px solid #8884; padding: .35rem .5rem; vertical-align: top; }
td.m { font-weight: 600; width: 5rem; } code { font-size: .95em; }
</style></head><body>
<h1>Flotilla API v1</h1>
<p>Send an API key as <code>Authorization: Bearer flt_…</code> or <code>X-API-Key</code>. Errors are <code>{ "error": { "code", "message", "details" } }</code>. The machine-readable description: <a href="openapi.json">openapi.json</a> (OpenAPI 3.1).</p>
${sections}
</body></html>`
}
