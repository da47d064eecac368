// Workload definitions of /work/shared/WORKLOADS.md (framework-neutral).
//
// Every workload is described as a generic DAG (`graph()`), from which the
// promise-per-task baseline and the flotilla workflow spec are generated, plus
// the hand-written plain async/await baselines in baseline.mjs.

/** The task of every workload: exactly the function of the protocol. */
export const task = async (x) => ({ v: x + 1 })

export const WORKLOADS = ['W1-fanout', 'W2-chain', 'W3-layered-dense', 'W3-layered-sparse3', 'W4-many-small']

export const W3_LAYERS = 10
export const W3_WIDTH = 100
export const W4_RUNS = 1000
export const W4_STEPS = 5
export const W4_CONCURRENCY = 50

/** Deterministic generator of the sparse W3 predecessors (must match the protocol exactly). */
export function mulberry32(seed) {
  let a = seed >>> 0
  return function () {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

let sparseCache
/** P[k][j] for k in 1..9, j in 0..99: 3 sorted distinct indices of layer k-1. P[0] is empty. Self-checked. */
export function sparsePredecessors() {
  if (sparseCache) return sparseCache
  const P = [[]]
  const rnd = mulberry32(42)
  for (let k = 1; k < W3_LAYERS; k++) {
    P[k] = []
    for (let j = 0; j < W3_WIDTH; j++) {
      const s = new Set()
      while (s.size < 3) s.add(Math.floor(rnd() * W3_WIDTH))
      P[k][j] = [...s].sort((a, b) => a - b)
    }
  }
  const expect = [
    [1, 0, [44, 60, 85]],
    [1, 1, [17, 52, 66]],
    [1, 2, [27, 62, 86]],
    [9, 99, [32, 60, 84]],
  ]
  for (const [k, j, want] of expect) {
    if (P[k][j].join(',') !== want.join(',')) {
      throw new Error(`mulberry32 self-check failed: P(${k},${j}) = [${P[k][j]}], expected [${want}]`)
    }
  }
  return (sparseCache = P)
}

/** P[k][j] for the dense variant: all 100 tasks of layer k-1. */
export function densePredecessors() {
  const all = Array.from({ length: W3_WIDTH }, (_, i) => i)
  const P = [[]]
  for (let k = 1; k < W3_LAYERS; k++) P[k] = Array.from({ length: W3_WIDTH }, () => all)
  return P
}

/** Task invocations per run (per iteration for W4). */
export function tasksOf(workload, n) {
  switch (workload) {
    case 'W1-fanout':
      return n + 2
    case 'W2-chain':
      return n
    case 'W3-layered-dense':
    case 'W3-layered-sparse3':
      return W3_LAYERS * W3_WIDTH
    case 'W4-many-small':
      return W4_RUNS * W4_STEPS
    default:
      throw new Error(`unknown workload ${workload}`)
  }
}

/** The `n` reported for a workload (N for W1/W2, 1000 for W3 and W4). */
export function reportedN(workload, n) {
  if (workload.startsWith('W3')) return W3_LAYERS * W3_WIDTH
  if (workload === 'W4-many-small') return W4_RUNS
  return n
}

export const w3id = (k, j) => `t_${k}_${j}`

/**
 * A workload as a generic DAG. Nodes are in a topological order.
 * - `ids[i]`: task id
 * - `preds[i]`: indices of the predecessors (array of numbers)
 * - `kind[i]`: how x is computed from the predecessors' results:
 *     'zero' (x = 0, no predecessors), 'one' (x = the single predecessor's v),
 *     'sum' (x = Σ v), 'max' (x = max v)
 * - `checks`: [{ index, id, v }] expected final values (the sinks to verify)
 */
export function graph(workload, n) {
  const ids = []
  const preds = []
  const kind = []
  const checks = []
  const add = (id, p, k) => {
    ids.push(id)
    preds.push(p)
    kind.push(k)
    return ids.length - 1
  }
  switch (workload) {
    case 'W1-fanout': {
      const start = add('start', [], 'zero')
      const fan = []
      for (let i = 0; i < n; i++) fan.push(add(`t_${i}`, [start], 'one'))
      const join = add('join', fan, 'sum')
      checks.push({ index: join, id: 'join', v: 2 * n + 1 })
      break
    }
    case 'W2-chain': {
      let prev = add('t_0', [], 'zero')
      for (let k = 1; k < n; k++) prev = add(`t_${k}`, [prev], 'one')
      checks.push({ index: prev, id: `t_${n - 1}`, v: n })
      break
    }
    case 'W3-layered-dense':
    case 'W3-layered-sparse3': {
      const P = workload === 'W3-layered-dense' ? densePredecessors() : sparsePredecessors()
      for (let j = 0; j < W3_WIDTH; j++) add(w3id(0, j), [], 'zero')
      for (let k = 1; k < W3_LAYERS; k++) {
        const base = (k - 1) * W3_WIDTH
        for (let j = 0; j < W3_WIDTH; j++)
          add(
            w3id(k, j),
            P[k][j].map((p) => base + p),
            'max',
          )
      }
      for (let j = 0; j < W3_WIDTH; j++)
        checks.push({ index: (W3_LAYERS - 1) * W3_WIDTH + j, id: w3id(W3_LAYERS - 1, j), v: W3_LAYERS })
      break
    }
    case 'W4-many-small': {
      // The definition of one of the 1000 runs: a 5-step chain.
      let prev = add('t_0', [], 'zero')
      for (let k = 1; k < W4_STEPS; k++) prev = add(`t_${k}`, [prev], 'one')
      checks.push({ index: prev, id: `t_${W4_STEPS - 1}`, v: W4_STEPS })
      break
    }
    default:
      throw new Error(`unknown workload ${workload}`)
  }
  let edges = 0
  for (const p of preds) edges += p.length
  return { workload, n, ids, preds, kind, checks, edges }
}

/** Throws unless `got` (a value `{ v }` or undefined) has `v === want`. */
export function expectV(got, want, what) {
  if (got === null || typeof got !== 'object' || got.v !== want) {
    throw new Error(`check failed: ${what} = ${JSON.stringify(got)}, expected { v: ${want} }`)
  }
}

/** Checks a list of final values against graph.checks; `valueOf(check)` returns the task's result. */
export function verifyChecks(g, valueOf) {
  for (const c of g.checks) expectV(valueOf(c), c.v, `${g.workload} n=${g.n} task ${c.id}`)
}

/**
 * The W4 driver, identical for every implementation: a pool of `concurrency`
 * async workers pulling the next run index from a shared counter.
 * Returns the results by run index.
 */
export async function workerPool(total, concurrency, runOne) {
  const results = new Array(total)
  let next = 0
  const worker = async () => {
    while (next < total) {
      const i = next++
      results[i] = await runOne(i)
    }
  }
  const workers = []
  for (let w = 0; w < concurrency; w++) workers.push(worker())
  await Promise.all(workers)
  return results
}
