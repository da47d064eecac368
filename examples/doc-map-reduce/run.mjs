#!/usr/bin/env node
// Map-reduce over a folder of text documents: one doc-stats task per .txt
// file (the map), then merge-stats (the reduce).
//
//   node examples/doc-map-reduce/run.mjs [folder] [--json]
//
// The folder defaults to docs/ beside this file; a folder given on the command
// line is resolved against the current folder. The `map-reduce` pattern maps
// over a static list, so the files are listed here, before the workflow is built.
import { readdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Orchestrator, workflow } from 'flotilla'
import { docStats, mergeStats } from './agents.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const json = args.includes('--json')
const rest = args.filter((a) => a !== '--json')
if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) {
  console.error('usage: node run.mjs [folder] [--json]')
  process.exit(2)
}
const folder = rest.length === 1 ? resolve(rest[0]) : join(HERE, 'docs')

let names
try {
  names = (await readdir(folder, { withFileTypes: true }))
    .filter((e) => e.isFile() && e.name.endsWith('.txt'))
    .map((e) => e.name)
    .sort()
} catch (e) {
  console.error(`error: cannot read the folder ${folder}: ${e.message}`)
  process.exit(1)
}
if (names.length === 0) {
  console.error(`error: ${folder} holds no .txt files`)
  process.exit(1)
}
const files = names.map((name) => join(folder, name))

const wf = workflow('doc-stats')
  .mapReduce('stats', {
    items: files.map((f) => ({ file: f })),
    map: { agent: 'doc-stats', retry: { maxAttempts: 2, initialDelayMs: 20 }, timeoutMs: 10_000 },
    reduce: { agent: 'merge-stats' },
    onItemFailure: 'skip', // an unreadable document is left out of the totals and listed as skipped
  })
  .build()

const orchestrator = new Orchestrator({ store: 'memory' })
await orchestrator.register(docStats)
await orchestrator.register(mergeStats)
const result = await orchestrator.run(wf)
await orchestrator.close()

// The map task of item i is stats__map_<i>.
const skipped = files.flatMap((file, i) => {
  const t = result.tasks[`stats__map_${i}`]
  return t.state === 'SUCCEEDED'
    ? []
    : [{ file: names[i], state: t.state, error: t.error ? `[${t.error.code}] ${t.error.message}` : undefined }]
})
const report = result.ok ? result.output('stats') : undefined

if (json) {
  console.log(
    JSON.stringify(
      {
        runId: result.runId,
        state: result.state,
        folder,
        files: names,
        skipped,
        report,
        error: result.error?.toJSON(),
      },
      null,
      2,
    ),
  )
} else if (!result.ok) {
  console.error(`Run ${result.runId}: ${result.state} [${result.error?.code}] ${result.error?.message}`)
} else {
  const time = (s) => (s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`)
  const pad = (s, n) => s.padEnd(n)
  const top = (ws) => ws.map((w) => `${w.word} ${w.count}`).join(', ')
  const lines = [
    `Documents in ${folder}: ${report.documents} read${skipped.length > 0 ? `, ${skipped.length} skipped` : ''}`,
    `Totals: ${report.totals.words} words · ${report.totals.lines} lines · ${report.totals.bytes} bytes · reading time ${time(report.totals.readingSeconds)}`,
    `Longest: ${report.longest ? `${report.longest.file} (${report.longest.words} words)` : '-'}`,
    `Top words: ${top(report.topWords)}`,
    '',
    `${pad('document', 20)} ${'words'.padStart(6)} ${'lines'.padStart(6)} ${'reading'.padStart(8)}  top words`,
    ...report.perDocument.map(
      (d) =>
        `${pad(d.file, 20)} ${String(d.words).padStart(6)} ${String(d.lines).padStart(6)} ${time(d.readingSeconds).padStart(8)}  ${top(d.topWords) || '-'}`,
    ),
  ]
  if (skipped.length > 0) lines.push('', 'Skipped:', ...skipped.map((s) => `  ${s.file}: ${s.error ?? s.state}`))
  console.log(lines.join('\n'))
}
process.exitCode = result.ok ? 0 : 1
