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

/**
 * Peak parallelism kept event by event: the most attempts open at once.
 * Attempts open and close at their events' times; at equal times closes
 * count before opens (an attempt that ends when another starts does not
 * overlap it), so the figure of a time is taken once every event at that
 * time is in, when a later one comes (or at a read). Exact while events come
 * in time order; an earlier event than one already counted marks it
 * {@link dirty}: the next read sweeps every attempt ({@link sweepPeak}).
 */
export class PeakTracker {
  /** Attempts open now. */
  running = 0
  private peak = 0
  private at = -Infinity
  /** An event came before one already counted: the figure must be swept from the attempts. */
  dirty = false

  /** An attempt opened (+1) or closed (-1) at `at`. */
  step(at: number, delta: 1 | -1): void {
    if (at > this.at) {
      this.peak = Math.max(this.peak, this.running)
      this.at = at
    } else if (at < this.at) this.dirty = true
    this.running += delta
  }

  /** The peak so far (attempts still open count as running until now). */
  value(): number {
    return Math.max(this.peak, this.running)
  }

  /** Takes a swept figure: the events counted so far are in it. */
  reset(peak: number): void {
    this.peak = peak
    this.dirty = false
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
