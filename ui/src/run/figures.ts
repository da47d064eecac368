import type { TaskState } from '../types.js'

/** How many tasks are in each state. */
export type StateCounts = Record<TaskState, number>

/** Every task state, in the order the graph's layers stack them. */
export const STATE_ORDER: readonly TaskState[] = [
  'SUCCEEDED',
  'RUNNING',
  'RETRYING',
  'FAILED',
  'CANCELLED',
  'SKIPPED',
  'READY',
  'PENDING',
]

/** Zero tasks in every state. */
export function zeroCounts(): StateCounts {
  return { PENDING: 0, READY: 0, RUNNING: 0, RETRYING: 0, SUCCEEDED: 0, FAILED: 0, SKIPPED: 0, CANCELLED: 0 }
}

interface PeakNode {
  /** A time, and 0 for ends, 1 for starts: at equal times ends sort first (an attempt that ends when another starts does not overlap it). */
  at: number
  kind: 0 | 1
  /** Attempts started (+) or ended (-) at this key. */
  delta: number
  /** Sum of the deltas of the subtree, and the largest sum of a prefix of it (in key order). */
  sum: number
  best: number
  priority: number
  left: PeakNode | undefined
  right: PeakNode | undefined
}

function pull(n: PeakNode): void {
  const left = n.left?.sum ?? 0
  const here = left + n.delta
  n.sum = here + (n.right?.sum ?? 0)
  n.best = Math.max(n.left?.best ?? -Infinity, here, n.right === undefined ? -Infinity : here + n.right.best)
}

/**
 * Peak parallelism kept event by event: the most attempts open at once, as
 * the largest prefix sum of the attempts' starts (+1) and ends (-1) in time
 * order, ends first at equal times. The points are kept in a treap whose
 * nodes know their subtree's sum and largest prefix sum, so an attempt's
 * start or end is added in O(log n) whatever order the events come in (a
 * live stream's times are not in order: workers stamp them). An attempt
 * still open counts until now; an ended run's open attempts are left to
 * {@link sweepPeak}.
 */
export class PeakTracker {
  /** Attempts open now. */
  running = 0
  private root: PeakNode | undefined
  private seed = 0x2545f491

  /** An attempt started at `at`. */
  open(at: number): void {
    this.running++
    this.root = this.insert(this.root, at, 1, 1)
  }

  /** An attempt ended at `at`. */
  close(at: number): void {
    this.running--
    this.root = this.insert(this.root, at, 0, -1)
  }

  /** The peak so far. */
  value(): number {
    return Math.max(0, this.root?.best ?? 0)
  }

  private insert(n: PeakNode | undefined, at: number, kind: 0 | 1, delta: number): PeakNode {
    if (n === undefined) {
      // xorshift: priorities need no quality, only spread.
      this.seed ^= this.seed << 13
      this.seed ^= this.seed >>> 17
      this.seed ^= this.seed << 5
      return { at, kind, delta, sum: delta, best: delta, priority: this.seed, left: undefined, right: undefined }
    }
    if (at === n.at && kind === n.kind) n.delta += delta
    else if (at < n.at || (at === n.at && kind < n.kind)) {
      const l = this.insert(n.left, at, kind, delta)
      n.left = l
      if (l.priority > n.priority) {
        n.left = l.right
        pull(n)
        l.right = n
        n = l
      }
    } else {
      const r = this.insert(n.right, at, kind, delta)
      n.right = r
      if (r.priority > n.priority) {
        n.right = r.left
        pull(n)
        r.left = n
        n = r
      }
    }
    pull(n)
    return n
  }
}

/** Peak parallelism of intervals by a sweep: the starts and ends sorted as numbers, ends first at equal times. */
export function sweepPeak(starts: readonly number[], ends: readonly number[]): number {
  const s0 = Float64Array.from(starts).sort()
  const e0 = Float64Array.from(ends).sort()
  let running = 0
  let peak = 0
  for (let i = 0, j = 0; i < s0.length; ) {
    if (j < e0.length && (e0[j] as number) <= (s0[i] as number)) {
      running--
      j++
    } else {
      running++
      i++
      peak = Math.max(peak, running)
    }
  }
  return peak
}

/**
 * The run's graph as arrays, for the critical path: for each task (by its
 * place in the graph) the places of the dependencies listed before it.
 */
export interface DepIndex {
  /** Task i's dependencies are `deps[start[i]]` … `deps[start[i + 1] - 1]`. */
  start: Int32Array
  deps: Int32Array
}

/** Builds a {@link DepIndex} from each task's dependency ids (those not listed before a task are left out). */
export function depIndex(ids: readonly string[], dependsOn: readonly (readonly string[])[]): DepIndex {
  const at = new Map<string, number>()
  const start = new Int32Array(ids.length + 1)
  const out: number[] = []
  ids.forEach((id, i) => {
    start[i] = out.length
    for (const d of dependsOn[i] ?? []) {
      const j = at.get(d)
      if (j !== undefined) out.push(j)
    }
    at.set(id, i)
  })
  start[ids.length] = out.length
  return { start, deps: Int32Array.from(out) }
}

/**
 * The longest path through the graph given each task's weight: the places
 * of its tasks, from its end back to its start. A task's predecessor is its
 * first dependency with the longest path; the path ends at the first task
 * with the longest one. One pass over typed arrays (a 10,000-task run: well
 * under a millisecond).
 */
export function longestPath(g: DepIndex, weight: (i: number) => number): number[] {
  const n = g.start.length - 1
  const len = new Float64Array(n)
  const prev = new Int32Array(n)
  let end = -1
  let endLen = -1
  for (let i = 0; i < n; i++) {
    let l = 0
    let p = -1
    for (let k = g.start[i] as number, k1 = g.start[i + 1] as number; k < k1; k++) {
      const j = g.deps[k] as number
      if ((len[j] as number) > l) {
        l = len[j] as number
        p = j
      }
    }
    const total = l + weight(i)
    len[i] = total
    prev[i] = p
    if (total > endLen) {
      endLen = total
      end = i
    }
  }
  const path: number[] = []
  for (let i = end; i >= 0; i = prev[i] as number) path.push(i)
  return path
}
