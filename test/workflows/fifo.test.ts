import { describe, expect, it } from 'vitest'
import { Fifo } from '../../src/workflows/fifo.js'

describe('Fifo', () => {
  it('keeps first-in first-out order across compactions', () => {
    const q = new Fifo<number>()
    const out: number[] = []
    for (let i = 0; i < 5000; i++) {
      q.push(i)
      if (i % 3 === 0) out.push(q.shift()!)
    }
    expect(q.length).toBe(5000 - out.length)
    while (q.length > 0) out.push(q.shift()!)
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => i))
    expect(q.shift()).toBeUndefined()
  })

  it('drains every item, oldest first, and is empty after', () => {
    const q = new Fifo<string>()
    q.push('a')
    q.push('b')
    q.push('c')
    q.shift()
    expect(q.drain()).toEqual(['b', 'c'])
    expect(q.length).toBe(0)
  })
})
