/**
 * The dependency graph of a workflow's tasks, as index lists: a topological
 * order with in-degrees and dependents (Kahn's algorithm), the critical path
 * length of each task, and the cycles when there is no order.
 *
 * @module
 */

/** A topological order of tasks given each task's dependencies (indices). */
export interface TopologicalOrder {
  /** In-degree of every task. */
  readonly inDegree: Int32Array
  /** Indices of the tasks waiting for each task. */
  readonly dependents: number[][]
  /** Task indices in a topological order: fewer than the tasks when some wait for each other. */
  readonly order: number[]
  /** In-degrees left after ordering: above 0 for the tasks of cycles (see {@link findCycle}). */
  readonly deg: Int32Array
}

/** Kahn's algorithm over `depSets` (the indices each task waits for). */
export function topologicalOrder(depSets: readonly (readonly number[])[]): TopologicalOrder {
  const n = depSets.length
  const inDegree = new Int32Array(n)
  const dependents: number[][] = Array.from({ length: n }, () => [])
  depSets.forEach((deps, i) => {
    inDegree[i] = deps.length
    for (const d of deps) dependents[d].push(i)
  })
  const order: number[] = []
  const deg = inDegree.slice()
  for (let i = 0; i < n; i++) if (deg[i] === 0) order.push(i)
  for (let h = 0; h < order.length; h++) for (const j of dependents[order[h]]) if (--deg[j] === 0) order.push(j)
  return { inDegree, dependents, order, deg }
}

/** Tasks on the longest path from each task to the end, itself included, given a full topological order. */
export function criticalPathLengths(order: readonly number[], dependents: readonly (readonly number[])[]): Int32Array {
  const n = order.length
  const cpl = new Int32Array(n)
  for (let h = n - 1; h >= 0; h--) {
    const i = order[h]
    let best = 0
    for (const j of dependents[i]) if (cpl[j] > best) best = cpl[j]
    cpl[i] = best + 1
  }
  return cpl
}

/** One cycle per group of tasks that wait for each other, found by removing each cycle found and ordering the rest again. */
export function allCycles(depSets: number[][]): number[][] {
  const n = depSets.length
  const removed = new Uint8Array(n)
  const cycles: number[][] = []
  for (let guard = 0; guard < n; guard++) {
    const deps = depSets.map((d, i) => (removed[i] ? [] : d.filter((j) => !removed[j])))
    const deg = Int32Array.from(deps, (d) => d.length)
    const dependents: number[][] = Array.from({ length: n }, () => [])
    deps.forEach((d, i) => d.forEach((j) => dependents[j].push(i)))
    const queue: number[] = []
    for (let i = 0; i < n; i++) if (deg[i] === 0) queue.push(i)
    for (let h = 0; h < queue.length; h++) for (const j of dependents[queue[h]]) if (--deg[j] === 0) queue.push(j)
    if (queue.length === n) break
    const cycle = findCycle(deps, deg)
    cycles.push(cycle)
    for (const i of cycle) removed[i] = 1
  }
  return cycles
}

/**
 * A cycle among the nodes Kahn's algorithm could not order (deg > 0). Each
 * such node waits for at least one other such node, so walking those waits
 * must revisit a node: the walk from its first visit is the cycle.
 */
export function findCycle(depSets: number[][], deg: Int32Array): number[] {
  let i = deg.findIndex((d) => d > 0)
  const seenAt = new Map<number, number>()
  const walk: number[] = []
  while (!seenAt.has(i)) {
    seenAt.set(i, walk.length)
    walk.push(i)
    i = depSets[i].find((d) => deg[d] > 0)!
  }
  return [...walk.slice(seenAt.get(i)), i]
}
