// Summarises a V8 .cpuprofile: top functions by self time, and by inclusive time.
//
//   node --cpu-prof --expose-gc bench/case.mjs flotilla W1-fanout 1000
//   node bench/profile-summary.mjs CPU.*.cpuprofile [--top 30] [--filter dist/]
//
// Lines are 1-based, as in the source file (the profile's are 0-based).

import { readFileSync, existsSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a))
const top = Number(args[args.indexOf('--top') + 1]) || 30
const filter = args.includes('--filter') ? args[args.indexOf('--filter') + 1] : undefined
if (!file) throw new Error('usage: node bench/profile-summary.mjs <file.cpuprofile> [--top 30] [--filter dist/]')

const prof = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

const self = new Map()
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i]
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0))
}
// dist/*.js positions are mapped back to src/*.ts through the .js.map files.
const maps = new Map()
function sourceMapOf(url) {
  if (!url.startsWith('file://') || !url.includes('/dist/')) return undefined
  if (!maps.has(url)) {
    const path = fileURLToPath(url) + '.map'
    maps.set(url, existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8'))) : undefined)
  }
  return maps.get(url)
}
const short = (u) => u.replace(/^file:\/\//, '').replace(/^.*\/(dist|bench|src)\//, '$1/')
const where = (n) => {
  const f = n.callFrame
  const url = short(f.url)
  let loc = url ? `${url}:${f.lineNumber + 1}` : ''
  const sm = f.lineNumber >= 0 ? sourceMapOf(f.url) : undefined
  const e = sm?.findEntry(f.lineNumber, f.columnNumber)
  if (e && e.originalSource) loc += ` (${short(new URL(e.originalSource, f.url).href)}:${e.originalLine + 1})`
  return { name: f.functionName || '(anonymous)', loc }
}
const selfBy = new Map()
const inclBy = new Map()
let total = 0
for (const [id, us] of self) {
  total += us
  const n = byId.get(id)
  const w = where(n)
  const k = `${w.name}  ${w.loc}`
  selfBy.set(k, (selfBy.get(k) ?? 0) + us)
  // Inclusive: count once per distinct function on the stack.
  const seen = new Set()
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cw = where(byId.get(cur))
    const ck = `${cw.name}  ${cw.loc}`
    if (seen.has(ck)) continue
    seen.add(ck)
    inclBy.set(ck, (inclBy.get(ck) ?? 0) + us)
  }
}
const print = (title, m) => {
  console.log(`\n${title} (total ${(total / 1000).toFixed(0)} ms sampled)`)
  const rows = [...m]
    .filter(([k]) => !filter || k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
  for (const [k, us] of rows)
    console.log(`${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`)
}
print('Self time', selfBy)
print('Inclusive time', inclBy)
