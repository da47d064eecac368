// Auto-scaling benchmark: a burst of tasks on an agent that runs one task at a
// time (maxConcurrency 1), with a fixed single instance and with `scaling`.
// Runs on dist/ (`npm run bench:scaling` builds first); prints one JSON line per
// case on stdout, then a readable summary on stderr.
//
//   node bench/scaling.mjs [--quick]
//
// Cases (median of the repetitions):
//   burst-fixed     40 tasks of 20 ms on 1 instance: makespan in ms
//   burst-scaled    the same with scaling { min: 1, max: 8 }, checks every 50 ms: makespan, and peak instances
//   burst-process   12 CPU-bound tasks of 300 ms on a process agent, fixed vs scaling { max: 4 }: makespan in ms

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineAgent } from '../dist/agents/define-agent.js'
import { Orchestrator } from '../dist/orchestrator/orchestrator.js'
import { ProcessRuntime } from '../dist/runtimes/process/process-runtime.js'
import { workflow } from '../dist/workflows/builder.js'

const quick = process.argv.includes('--quick')
const root = fileURLToPath(new URL('..', import.meta.url))
const REPS = quick ? 3 : 5

function median(xs) {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}

function burst(n, input) {
  let b = workflow('burst')
  for (let i = 0; i < n; i++) b = b.task(`t${i}`, { agent: 'slow', input })
  return b.build()
}

async function inProcess(scaling) {
  const o = new Orchestrator({ store: 'memory', scalingIntervalMs: 50 })
  let peak = 1
  o.on('agent.scaled', (e) => (peak = Math.max(peak, e.to)))
  await o.register(
    defineAgent({
      name: 'slow',
      maxConcurrency: 1,
      ...(scaling ? { scaling } : {}),
      handler: () => new Promise((r) => setTimeout(() => r(1), 20)),
    }),
  )
  const t0 = performance.now()
  const result = await o.run(burst(40, {}))
  const ms = performance.now() - t0
  if (result.state !== 'SUCCEEDED') throw new Error(`run ${result.state}`)
  await o.close()
  return { ms, peak }
}

async function processAgent(scaling) {
  const ws = mkdtempSync(join(tmpdir(), 'flotilla-bench-scaling-'))
  const o = new Orchestrator({
    store: 'memory',
    runtimes: [new ProcessRuntime({ entry: join(root, 'dist/runtimes/process/child-main.js') })],
    workspaceRoot: ws,
    scalingIntervalMs: 50,
  })
  await o.agents.deploy({
    name: 'slow',
    module: join(root, 'test/fixtures/scaling/slow-agent.mjs'),
    export: 'slow',
    runtime: 'process',
    ...(scaling ? { scaling } : {}),
  })
  const t0 = performance.now()
  const result = await o.run(burst(12, { ms: 300, cpu: true }))
  const ms = performance.now() - t0
  if (result.state !== 'SUCCEEDED') throw new Error(`run ${result.state}`)
  await o.close()
  rmSync(ws, { recursive: true, force: true })
  return { ms }
}

const out = []
const fixed = []
const scaled = []
const peaks = []
for (let r = 0; r < REPS; r++) {
  fixed.push((await inProcess(undefined)).ms)
  const s = await inProcess({ min: 1, max: 8 })
  scaled.push(s.ms)
  peaks.push(s.peak)
}
out.push({ case: 'burst-fixed', makespanMs: Math.round(median(fixed)), reps: REPS })
out.push({ case: 'burst-scaled', makespanMs: Math.round(median(scaled)), peakInstances: median(peaks), reps: REPS })
const pf = []
const ps = []
for (let r = 0; r < (quick ? 1 : 3); r++) {
  pf.push((await processAgent(undefined)).ms)
  ps.push((await processAgent({ min: 1, max: 4 })).ms)
}
out.push({
  case: 'burst-process',
  fixedMs: Math.round(median(pf)),
  scaledMs: Math.round(median(ps)),
  reps: pf.length,
})
for (const line of out) console.log(JSON.stringify(line))
console.error(
  `in-process burst (40 × 20 ms): fixed ${out[0].makespanMs} ms, scaled ${out[1].makespanMs} ms (peak ${out[1].peakInstances} instances); ` +
    `process burst (12 × 300 ms of CPU): fixed ${out[2].fixedMs} ms, scaled ${out[2].scaledMs} ms`,
)
