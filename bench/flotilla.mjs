// The flotilla implementation of the workloads, on the built API in dist/.
//
// Dependencies are static edges: every task's input holds `{ $ref:
// 'tasks.<id>.output.v' }` references to its predecessors, and compileWorkflow
// turns each reference into a dependency edge (no layer barriers, no dynamic
// map/Send). Agents have no schemas, so no validation cost is measured.

import { readFileSync } from 'node:fs'
import { Orchestrator, defineAgent, compileWorkflow } from '../dist/index.js'
import { task, graph, verifyChecks, workerPool, W4_RUNS, W4_CONCURRENCY, W4_STEPS } from './workloads.mjs'

export const FLOTILLA_VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version

/** Thin wrappers around `task`: the handler receives the task's resolved input. */
const AGENTS = [
  defineAgent({ name: 'inc', handler: (input) => task(input.x) }),
  defineAgent({
    name: 'sum',
    handler: (input) => {
      const xs = input.xs
      let s = 0
      for (let i = 0; i < xs.length; i++) s += xs[i]
      return task(s)
    },
  }),
  defineAgent({
    name: 'max',
    handler: (input) => {
      const xs = input.xs
      let m = -Infinity
      for (let i = 0; i < xs.length; i++) if (xs[i] > m) m = xs[i]
      return task(m)
    },
  }),
]

// In-memory unless FLOTILLA_BENCH_STORE names another store (the Orchestrator's own default may be durable).
const STORE = process.env.FLOTILLA_BENCH_STORE ?? 'memory'

async function newOrchestrator() {
  const orch = new Orchestrator({ store: STORE })
  for (const a of AGENTS) await orch.register(a)
  return orch
}

/** The workflow spec of a generic workload graph: references create the edges. */
export function specOf(g) {
  const ref = (p) => ({ $ref: `tasks.${g.ids[p]}.output.v` })
  const tasks = new Array(g.ids.length)
  for (let i = 0; i < g.ids.length; i++) {
    const k = g.kind[i]
    const p = g.preds[i]
    if (k === 'zero') tasks[i] = { id: g.ids[i], agent: 'inc', input: { x: 0 } }
    else if (k === 'one') tasks[i] = { id: g.ids[i], agent: 'inc', input: { x: ref(p[0]) } }
    else tasks[i] = { id: g.ids[i], agent: k, input: { xs: p.map(ref) } }
  }
  return { name: `bench-${g.workload}-${g.n}`, tasks }
}

/**
 * mode 'fresh' (default): a new Orchestrator (with its MemoryStore) replaces
 * the old one after every timed run, outside the timing, because the
 * MemoryStore keeps every run forever and has no delete. mode 'shared': one
 * Orchestrator created at build time serves every run.
 */
export async function buildFlotilla(workload, n, { mode = process.env.BENCH_FLOTILLA_ORCH || 'fresh' } = {}) {
  if (mode !== 'fresh' && mode !== 'shared') throw new Error(`BENCH_FLOTILLA_ORCH must be fresh or shared, got ${mode}`)
  const g = graph(workload, n)
  const wf = compileWorkflow(specOf(g))
  let orch = await newOrchestrator()
  orch.validate(wf)
  const orchNote = mode === 'fresh'
    ? `store ${STORE}, other Orchestrator options default; a fresh Orchestrator+MemoryStore replaces the old one after each timed run (outside timing; MemoryStore has no delete)`
    : `store ${STORE}, other Orchestrator options default; one Orchestrator for all runs (store grows)`
  const after = mode === 'fresh'
    ? async () => {
        await orch.close()
        orch = await newOrchestrator()
      }
    : undefined
  const checkRun = (r, what) => {
    if (r.state !== 'SUCCEEDED') throw new Error(`${what}: run state ${r.state}${r.error ? `: ${r.error.message}` : ''}`)
    verifyChecks(g, (c) => r.output(c.id))
  }

  if (workload === 'W4-many-small') {
    return {
      notes: `flotilla ${FLOTILLA_VERSION}; one compiled ${W4_STEPS}-task chain workflow (static edges via $ref), ${W4_RUNS} orch.run(wf) calls per iteration driven by the shared ${W4_CONCURRENCY}-worker pool outside the engine; ${orchNote}`,
      run: () => workerPool(W4_RUNS, W4_CONCURRENCY, () => orch.run(wf)),
      verify: (results) => {
        if (results.length !== W4_RUNS) throw new Error(`W4: ${results.length} results, expected ${W4_RUNS}`)
        for (let i = 0; i < W4_RUNS; i++) checkRun(results[i], `W4 run ${i}`)
      },
      after,
    }
  }
  const how = {
    'W1-fanout': 'static edges via $ref: t_i input {x: ref(start.v)}, join input {xs: [N refs]} (fan-in by static edges, no map/Send)',
    'W2-chain': 'static edges via $ref: t_k input {x: ref(t_{k-1}.v)}; N distinct tasks in one run, no step limit to raise',
    'W3-layered-dense': 'per-task static edges via $ref (not layer barriers): task (k,j) input {xs: [refs to its 100 predecessors]}',
    'W3-layered-sparse3': 'per-task static edges via $ref (not layer barriers): task (k,j) input {xs: [refs to its 3 predecessors]}',
  }[workload]
  return {
    notes: `flotilla ${FLOTILLA_VERSION}; ${how}; ${g.edges} edges; ${orchNote}`,
    run: () => orch.run(wf),
    verify: (r) => checkRun(r, workload),
    after,
  }
}
