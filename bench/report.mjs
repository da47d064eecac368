// Turns the JSON lines of `npm run bench -- --out <file>` into the Markdown
// results table of docs/benchmarks.md.
//
//   node bench/report.mjs /tmp/bench.jsonl

import { readFileSync } from 'node:fs'

const file = process.argv[2]
if (!file) throw new Error('usage: node bench/report.mjs <results.jsonl>')
const lines = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l))

const fmt = (x, d) => (x === null || x === undefined ? '' : x.toFixed(d))
console.log(
  '| workload | n | tasks | framework | median ms | min ms | max ms | µs/task | tasks/s | runs | rss MB | build ms | others_cores |',
)
console.log('|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const l of lines) {
  if (l.error) {
    console.log(
      `| ${l.workload} | ${l.n} | | ${l.framework} | ${l.unavailable ? 'unavailable' : 'error'} | | | | | | | | |`,
    )
    continue
  }
  const us = l.framework === 'baseline' ? '(ref)' : fmt(l.us_per_task, 2)
  console.log(
    `| ${l.workload} | ${l.n} | ${l.tasks} | ${l.framework} | ${fmt(l.median_ms, 3)} | ${fmt(l.min_ms, 3)} | ${fmt(l.max_ms, 3)} | ${us} | ${l.tasks_per_s === undefined ? '' : Math.round(l.tasks_per_s)} | ${l.runs} | ${l.rss_mb} | ${fmt(l.build_ms, 1)} | ${fmt(l.others_cores, 2)} |`,
  )
}
