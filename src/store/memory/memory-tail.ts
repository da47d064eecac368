import type { RunEvent } from '../../core/events.js'
import type { RunId } from '../../core/ids.js'
import { badPosition, tailLimit, type TailedEvent, type TailOptions, type TailPage } from '../records.js'

/**
 * The memory store's log of every event in commit order, for
 * {@link MemoryTailLog.tail}: event `i` has position `pos[i]` (a counter that
 * only grows, written as a decimal string), run `runs[i]` and number
 * `seqs[i]` in its run. Parallel arrays, so an append allocates nothing.
 * Pruning a run drops its entries; positions are never reused.
 */
export class MemoryTailLog {
  private pos: number[] = []
  private runs: RunId[] = []
  private seqs: number[] = []
  private events: RunEvent[] = []
  private last = 0

  /** Records an event just appended to its run's log as number `seq`. */
  add(runId: RunId, seq: number, event: RunEvent): void {
    this.pos.push(++this.last)
    this.runs.push(runId)
    this.seqs.push(seq)
    this.events.push(event)
  }

  /** Drops the events of runs that are gone. */
  prune(gone: (runId: RunId) => boolean): void {
    let w = 0
    for (let r = 0; r < this.pos.length; r++) {
      if (gone(this.runs[r])) continue
      this.pos[w] = this.pos[r]
      this.runs[w] = this.runs[r]
      this.seqs[w] = this.seqs[r]
      this.events[w] = this.events[r]
      w++
    }
    this.pos.length = this.runs.length = this.seqs.length = this.events.length = w
  }

  /** A page of the log after `options.after` (copies of the events). */
  tail(options: TailOptions): TailPage {
    const limit = tailLimit(options)
    const after = options.after ?? ''
    const from = after === '' ? 0 : parsePosition(after)
    const out: TailedEvent[] = []
    for (let i = this.firstAfter(from); i < this.pos.length && out.length < limit; i++) {
      if (options.runId !== undefined && this.runs[i] !== options.runId) continue
      out.push({ position: String(this.pos[i]), seq: this.seqs[i], event: structuredClone(this.events[i]) })
    }
    return { events: out, next: out.length === 0 ? after : out[out.length - 1].position }
  }

  /** The index of the first entry whose position is greater than `p` (binary search: positions ascend). */
  private firstAfter(p: number): number {
    let lo = 0
    let hi = this.pos.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.pos[mid] <= p) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function parsePosition(after: string): number {
  const n = typeof after === 'string' && /^[1-9][0-9]{0,15}$/.test(after) ? Number(after) : NaN
  if (!Number.isSafeInteger(n)) throw badPosition(String(after), 'memory')
  return n
}
