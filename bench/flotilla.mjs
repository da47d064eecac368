// The flotilla implementation of the workloads, on the built API in dist/.
//
// Dependencies are static edges: every task's input holds `{ $ref:
// 'tasks.<id>.output.v' }` references to its predecessors, and compileWorkflow
// turns each reference into a dependency edge (no layer barriers, no dynamic
// map/Send). Agents have no schemas, so no validation cost is measured.

import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Orchestrator, defineAgent, compileWorkflow, openStoreAsync } from '../dist/index.js'
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

// The in-memory case's store: 'memory' unless FLOTILLA_BENCH_STORE names
// another (the Orchestrator's own default store is durable).
const MEMORY_STORE = process.env.FLOTILLA_BENCH_STORE ?? 'memory'

/** The PostgreSQL server of the flotilla+postgres cases; each case adds `?schema=bench_<random>`. */
export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Thrown when PostgreSQL (or the `pg` package) is not there: case.mjs reports it as `unavailable`. */
export class StoreUnavailable extends Error {}

const redact = (url) => url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@')

/**
 * The store of one case, by framework: `open()` opens a (new) connection to
 * the case's store, `describe` goes into the notes, `dispose()` deletes the
 * store at the end of the case (temp dir, PostgreSQL schema).
 */
async function storeFor(framework) {
  if (framework === 'flotilla') {
    return { open: async () => MEMORY_STORE, describe: `store ${MEMORY_STORE}`, dispose: async () => {} }
  }
  if (framework === 'flotilla+sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'))
    const spec = `sqlite:${join(dir, 'bench.db')}`
    return {
      open: async () => spec,
      describe: 'store sqlite:<tmp>/bench.db (a fresh file per case, adapter defaults: WAL, synchronous NORMAL)',
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    }
  }
  if (framework === 'flotilla+postgres') {
    const schema = `bench_${randomBytes(6).toString('hex')}`
    const url = new URL(POSTGRES_URL)
    url.searchParams.set('schema', schema)
    let pg
    try {
      pg = (await import('pg')).default
    } catch (e) {
      throw new StoreUnavailable(`PostgreSQL unavailable: the pg package cannot be loaded (${e?.message ?? e})`)
    }
    let created = false
    return {
      open: async () => {
        try {
          const store = await openStoreAsync(url.toString())
          created = true
          return store
        } catch (e) {
          if (e?.code === 'STORE_UNAVAILABLE')
            throw new StoreUnavailable(`PostgreSQL unavailable at ${redact(POSTGRES_URL)}: ${e.message}`)
          throw e
        }
      },
      describe: `store ${redact(POSTGRES_URL)} (PostgreSQL; a fresh schema bench_<random> per case, dropped at the end)`,
      dispose: async () => {
        if (!created) return
        const client = new pg.Client({ connectionString: POSTGRES_URL })
        await client.connect()
        try {
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        } finally {
          await client.end()
        }
      },
    }
  }
  throw new Error(`unknown flotilla framework ${framework}`)
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
 * framework: 'flotilla' (in-memory store), 'flotilla+sqlite' (a fresh SQLite
 * file in a temp dir per case) or 'flotilla+postgres' (a fresh schema of the
 * local PostgreSQL per case). The returned `dispose()` closes the
 * Orchestrator and deletes the case's store; call it once at the end.
 *
 * mode 'shared' (default): one Orchestrator, built at build time, serves
 * every run. mode 'fresh': after every timed run the Orchestrator is closed
 * and replaced by a new one with the same agents (and a new connection to
 * the same store). In both modes, after every timed run (outside the timing)
 * the finished runs are deleted with `orch.prune(1)` (and the count checked),
 * so the store does not grow with the number of runs.
 */
export async function buildFlotilla(
  workload,
  n,
  { framework = 'flotilla', mode = process.env.BENCH_FLOTILLA_ORCH || 'shared' } = {},
) {
  if (mode !== 'fresh' && mode !== 'shared') throw new Error(`BENCH_FLOTILLA_ORCH must be shared or fresh, got ${mode}`)
  const g = graph(workload, n)
  const wf = compileWorkflow(specOf(g))
  const store = await storeFor(framework)
  const newOrchestrator = async () => {
    const orch = new Orchestrator({ store: await store.open() })
    for (const a of AGENTS) await orch.register(a)
    return orch
  }
  let orch
  try {
    orch = await newOrchestrator()
    orch.validate(wf)
  } catch (e) {
    await orch?.close().catch(() => {})
    await store.dispose().catch(() => {})
    throw e
  }
  const runsPerIteration = workload === 'W4-many-small' ? W4_RUNS : 1
  const orchNote =
    `${store.describe}, other Orchestrator options default; ` +
    (mode === 'shared'
      ? 'one Orchestrator for all runs'
      : 'a fresh Orchestrator replaces the old one after each timed run (outside timing; a new MemoryStore, or a new connection to the same durable store)') +
    '; after each timed run (outside timing) the finished runs are deleted (setTimeout 2 ms, then orch.prune(1), repeated until all are gone)'
  // prune(1) deletes the runs that finished more than 1 ms ago (by Date.now()).
  // A setTimeout of 2 ms can fire after only ~1 ms of Date.now() time (libuv's
  // cached loop time), so one attempt may find the last run too young: retry
  // until every run of the iteration is deleted.
  const after = async () => {
    let pruned = 0
    for (let attempt = 0; attempt < 50 && pruned < runsPerIteration; attempt++) {
      await new Promise((r) => setTimeout(r, 2))
      pruned += await orch.prune(1)
    }
    if (pruned !== runsPerIteration) throw new Error(`prune deleted ${pruned} runs, expected ${runsPerIteration}`)
    if (mode === 'fresh') {
      await orch.close()
      orch = await newOrchestrator()
    }
  }
  const dispose = async () => {
    try {
      await orch.close()
    } finally {
      await store.dispose()
    }
  }
  const checkRun = (r, what) => {
    if (r.state !== 'SUCCEEDED')
      throw new Error(`${what}: run state ${r.state}${r.error ? `: ${r.error.message}` : ''}`)
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
      dispose,
    }
  }
  const how = {
    'W1-fanout':
      'static edges via $ref: t_i input {x: ref(start.v)}, join input {xs: [N refs]} (fan-in by static edges, no map/Send)',
    'W2-chain':
      'static edges via $ref: t_k input {x: ref(t_{k-1}.v)}; N distinct tasks in one run, no step limit to raise',
    'W3-layered-dense':
      'per-task static edges via $ref (not layer barriers): task (k,j) input {xs: [refs to its 100 predecessors]}',
    'W3-layered-sparse3':
      'per-task static edges via $ref (not layer barriers): task (k,j) input {xs: [refs to its 3 predecessors]}',
  }[workload]
  return {
    notes: `flotilla ${FLOTILLA_VERSION}; ${how}; ${g.edges} edges; ${orchNote}`,
    run: () => orch.run(wf),
    verify: (r) => checkRun(r, workload),
    after,
    dispose,
  }
}
