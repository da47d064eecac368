import { describe, expect, it } from 'vitest'
import { MemoryBus } from '../../src/messaging/memory-bus.js'
import { busContract } from '../../src/testing/bus-contract.js'

busContract({ name: 'memory', create: async (options) => new MemoryBus(options) })

describe('MemoryBus', () => {
  it('publishes 100,000 events to one subscriber', async () => {
    const bus = new MemoryBus()
    let received = 0
    await bus.subscribe('progress', { where: { 'step.kind': 'tick' } }, () => {
      received++
    })
    for (let i = 0; i < 100_000; i++) await bus.publish('progress', { i, step: { kind: 'tick' } }, { from: 'worker' })
    expect(received).toBe(100_000)
    await bus.close()
  })

  it('reports event handler errors to onHandlerError without failing the publisher', async () => {
    const errors: unknown[] = []
    const bus = new MemoryBus({ onHandlerError: (err) => errors.push(err) })
    await bus.subscribe('*', undefined, () => {
      throw new Error('sync')
    })
    await bus.subscribe('*', undefined, async () => {
      throw new Error('async')
    })
    await expect(bus.publish('custom', { ok: true }, { from: 'a' })).resolves.toMatch(/^evt_/)
    await new Promise((r) => setImmediate(r))
    expect(errors.map((e) => (e as Error).message)).toEqual(['sync', 'async'])
    await bus.close()
  })

  it('fails pending requests with TASK_CANCELLED on close and refuses calls afterwards', async () => {
    const bus = new MemoryBus()
    const pending = bus.request('nobody', 1, { timeoutMs: 60_000 })
    await bus.close()
    await expect(pending).rejects.toMatchObject({ code: 'TASK_CANCELLED' })
    await expect(bus.send('a', 1)).rejects.toMatchObject({ code: 'BUS_CLOSED' })
  })

  it('refuses bad options', () => {
    expect(() => new MemoryBus({ maxDeliveries: 0 })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
  })
})
