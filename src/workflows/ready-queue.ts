/** An entry of the ready queue. */
export interface ReadyItem<R> {
  readonly run: R
  readonly index: number
  /** Lower runs first (priority, then critical path). */
  readonly rank: number
  /** Insertion order, for FIFO among equals. */
  readonly seq: number
}

/**
 * A binary min-heap of ready tasks ordered by rank, then insertion order:
 * O(log n) push and pop, no work that grows with the graph.
 */
export class ReadyQueue<R> {
  private items: ReadyItem<R>[] = []
  private seq = 0

  get size(): number {
    return this.items.length
  }

  push(run: R, index: number, rank: number): void {
    this.insert({ run, index, rank, seq: this.seq++ })
  }

  /** Puts back an item popped earlier, keeping its original place among equals. */
  insert(item: ReadyItem<R>): void {
    const a = this.items
    let i = a.length
    a.push(item)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(item, a[p])) break
      a[i] = a[p]
      i = p
    }
    a[i] = item
  }

  pop(): ReadyItem<R> | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      let i = 0
      const n = a.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && less(a[r], a[l]) ? r : l
        if (!less(a[c], last)) break
        a[i] = a[c]
        i = c
      }
      a[i] = last
    }
    return top
  }
}

function less<R>(x: ReadyItem<R>, y: ReadyItem<R>): boolean {
  return x.rank < y.rank || (x.rank === y.rank && x.seq < y.seq)
}
