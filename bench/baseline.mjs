// The reference implementations of /work/shared/WORKLOADS.md:
//  - `baseline`: plain async/await, hand-written per workload (the reference of us_per_task)
//  - `baseline-dag`: a generic promise-per-task DAG with no bookkeeping (W1 to W3)
//
// Each factory does its build work (graph generation) once and returns
// { run, verify, notes }: `run()` is the timed work and resolves to the final
// result; `verify(result)` throws unless the result is the expected value.

import {
  task,
  graph,
  verifyChecks,
  expectV,
  workerPool,
  sparsePredecessors,
  densePredecessors,
  W3_LAYERS,
  W3_WIDTH,
  W4_RUNS,
  W4_STEPS,
  W4_CONCURRENCY,
} from './workloads.mjs'

/** `baseline`: plain async/await. */
export function buildBaseline(workload, n) {
  switch (workload) {
    case 'W1-fanout':
      return {
        notes: 'await task(0); Promise.all(N x task(s.v)); await task(sum)',
        run: async () => {
          const s = await task(0)
          const ps = new Array(n)
          for (let i = 0; i < n; i++) ps[i] = task(s.v)
          const rs = await Promise.all(ps)
          let sum = 0
          for (let i = 0; i < n; i++) sum += rs[i].v
          return task(sum)
        },
        verify: (r) => expectV(r, 2 * n + 1, 'W1 join'),
      }
    case 'W2-chain':
      return {
        notes: 'for loop of r = await task(r.v)',
        run: async () => {
          let r = await task(0)
          for (let k = 1; k < n; k++) r = await task(r.v)
          return r
        },
        verify: (r) => expectV(r, n, 'W2 last'),
      }
    case 'W3-layered-dense':
    case 'W3-layered-sparse3': {
      const P = workload === 'W3-layered-dense' ? densePredecessors() : sparsePredecessors()
      return {
        notes:
          'one Promise.all per layer (layer barrier); each task reads its predecessors from the previous layer array',
        run: async () => {
          const ps = new Array(W3_WIDTH)
          for (let j = 0; j < W3_WIDTH; j++) ps[j] = task(0)
          let prev = await Promise.all(ps)
          for (let k = 1; k < W3_LAYERS; k++) {
            const Pk = P[k]
            const layer = new Array(W3_WIDTH)
            for (let j = 0; j < W3_WIDTH; j++) {
              const pj = Pk[j]
              let x = -Infinity
              for (let q = 0; q < pj.length; q++) if (prev[pj[q]].v > x) x = prev[pj[q]].v
              layer[j] = task(x)
            }
            prev = await Promise.all(layer)
          }
          return prev
        },
        verify: (last) => {
          for (let j = 0; j < W3_WIDTH; j++) expectV(last[j], W3_LAYERS, `W3 task (9,${j})`)
        },
      }
    }
    case 'W4-many-small':
      return {
        notes: `pool of ${W4_CONCURRENCY} async workers around a ${W4_STEPS}-iteration await loop`,
        run: () =>
          workerPool(W4_RUNS, W4_CONCURRENCY, async () => {
            let r = await task(0)
            for (let k = 1; k < W4_STEPS; k++) r = await task(r.v)
            return r
          }),
        verify: (results) => {
          if (results.length !== W4_RUNS) throw new Error(`W4: ${results.length} results, expected ${W4_RUNS}`)
          for (let i = 0; i < W4_RUNS; i++) expectV(results[i], W4_STEPS, `W4 run ${i}`)
        },
      }
    default:
      throw new Error(`unknown workload ${workload}`)
  }
}

/** `baseline-dag`: every task is Promise.all(predecessorPromises).then(rs => task(...)). */
export function buildBaselineDag(workload, n) {
  if (workload === 'W4-many-small') throw new Error('baseline-dag covers W1 to W3 only')
  const g = graph(workload, n)
  const { preds, kind } = g
  const count = preds.length
  const xOf = (k, rs) => {
    switch (k) {
      case 'zero':
        return 0
      case 'one':
        return rs[0].v
      case 'sum': {
        let s = 0
        for (let i = 0; i < rs.length; i++) s += rs[i].v
        return s
      }
      case 'max': {
        let m = -Infinity
        for (let i = 0; i < rs.length; i++) if (rs[i].v > m) m = rs[i].v
        return m
      }
    }
    throw new Error(`unknown kind ${k}`)
  }
  return {
    notes: `promise per task: Promise.all(predecessor promises).then(rs => task(x)); ${g.edges} edges`,
    run: async () => {
      const promises = new Array(count)
      for (let i = 0; i < count; i++) {
        const p = preds[i]
        const deps = new Array(p.length)
        for (let q = 0; q < p.length; q++) deps[q] = promises[p[q]]
        const k = kind[i]
        promises[i] = Promise.all(deps).then((rs) => task(xOf(k, rs)))
      }
      const sinks = new Array(g.checks.length)
      for (let c = 0; c < g.checks.length; c++) sinks[c] = promises[g.checks[c].index]
      return Promise.all(sinks)
    },
    verify: (values) => {
      let c = 0
      verifyChecks(g, () => values[c++])
    },
  }
}
