import { prng } from '../helpers/prng.js'
import { describe, expect, it } from 'vitest'
import { ReadyQueue, type ReadyItem } from '../../src/workflows/ready-queue.js'

function drain<R>(q: ReadyQueue<R>): ReadyItem<R>[] {
  const out: ReadyItem<R>[] = []
  for (let item = q.pop(); item !== undefined; item = q.pop()) out.push(item)
  return out
}

const byRankThenSeq = (a: { rank: number; seq: number }, b: { rank: number; seq: number }): number =>
  a.rank - b.rank || a.seq - b.seq

describe('ReadyQueue', () => {
  it('is empty at first and pops undefined when empty', () => {
    const q = new ReadyQueue<string>()
    expect(q.size).toBe(0)
    expect(q.pop()).toBeUndefined()
    q.push('r', 0, 1)
    expect(q.size).toBe(1)
    expect(q.pop()).toMatchObject({ run: 'r', index: 0, rank: 1, seq: 0 })
    expect(q.pop()).toBeUndefined()
    expect(q.size).toBe(0)
  })

  it('pops the lowest rank first (priority, then critical path), FIFO among equal ranks', () => {
    const q = new ReadyQueue<string>()
    const CRIT = 0,
      HIGH = 2 ** 31,
      MED = 2 * 2 ** 31
    q.push('r', 0, MED - 1) // medium, short path
    q.push('r', 1, HIGH - 1)
    q.push('r', 2, MED - 5) // medium, long path
    q.push('r', 3, CRIT - 1)
    q.push('r', 4, MED - 1) // equal to #0, later
    q.push('r', 5, HIGH - 1) // equal to #1, later
    q.push('r', 6, MED - 1)
    expect(drain(q).map((i) => i.index)).toEqual([3, 1, 5, 2, 0, 4, 6])
  })

  it('keeps FIFO order among many equal items', () => {
    const q = new ReadyQueue<number>()
    for (let i = 0; i < 1000; i++) q.push(i % 3, i, 7)
    expect(drain(q).map((i) => i.index)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })

  it('puts a popped item back in its original place among equals with insert', () => {
    const q = new ReadyQueue<string>()
    q.push('r', 0, 5)
    q.push('r', 1, 5)
    q.push('r', 2, 5)
    const first = q.pop()!
    expect(first.index).toBe(0)
    q.push('r', 3, 5)
    q.insert(first)
    expect(drain(q).map((i) => i.index)).toEqual([0, 1, 2, 3])
  })

  it.each([1, 2, 3, 4, 5])('matches a sorted array under random pushes, pops and re-inserts (seed %i)', (seed) => {
    const random = prng(seed)
    const q = new ReadyQueue<number>()
    const model: ReadyItem<number>[] = []
    let seq = 0
    const popped: ReadyItem<number>[] = []
    for (let step = 0; step < 5000; step++) {
      const r = random()
      if (r < 0.55) {
        const rank = Math.floor(random() * 8) * 2 ** 31 - Math.floor(random() * 4)
        const index = Math.floor(random() * 1e6)
        q.push(seed, index, rank)
        model.push({ run: seed, index, rank, seq: seq++ })
      } else if (r < 0.65 && popped.length > 0) {
        const item = popped.splice(Math.floor(random() * popped.length), 1)[0]
        q.insert(item)
        model.push(item)
      } else {
        model.sort(byRankThenSeq)
        const expected = model.shift()
        const got = q.pop()
        expect(got).toEqual(expected)
        if (got && random() < 0.3) popped.push(got)
      }
      expect(q.size).toBe(model.length)
    }
    model.sort(byRankThenSeq)
    expect(drain(q)).toEqual(model)
  })
})
