// The bus counting its traffic: the port's contract still holds through it, and each kind of traffic is counted.
import { describe, expect, it } from 'vitest'
import { MemoryBus } from '../../src/messaging/memory-bus.js'
import { meteredBus } from '../../src/messaging/metered-bus.js'
import { busContract } from '../../src/testing/bus-contract.js'
import { prometheusMeter } from '../../src/telemetry/prometheus.js'

const shared = await prometheusMeter()
busContract({ name: 'metered memory', create: async (options) => meteredBus(new MemoryBus(options), shared.meter) })

describe('meteredBus', () => {
  it('counts messages, events and requests published and delivered, by kind', async () => {
    const { meter, metrics } = await prometheusMeter()
    const bus = meteredBus(new MemoryBus(), meter)
    const events: unknown[] = []
    await bus.subscribe('progress', undefined, (e) => void events.push(e))
    await bus.subscribe('*', undefined, () => undefined)
    await bus.onRequest('expert', (req) => ({ echo: req.body }))
    await bus.send('a', 1, { from: 'me' })
    await bus.broadcast(['a', 'b', 'c'], 2)
    await bus.publish('progress', { p: 1 }, { from: 'me' })
    await bus.publish('other', { p: 2 }, { from: 'me' })
    expect(await bus.request('expert', 'why?', { timeoutMs: 5_000 })).toEqual({ echo: 'why?' })
    expect(await bus.receive('a', { max: 10 })).toHaveLength(2)
    expect(await bus.receive('b')).toHaveLength(1)
    expect(await bus.receive('nobody')).toHaveLength(0)
    expect(events).toHaveLength(1)
    const text = await metrics()
    expect(text).toContain('flotilla_bus_published_total{kind="message"} 4\n')
    expect(text).toContain('flotilla_bus_published_total{kind="event"} 2\n')
    expect(text).toContain('flotilla_bus_published_total{kind="request"} 1\n')
    expect(text).toContain('flotilla_bus_delivered_total{kind="message"} 3\n')
    // `progress` reached two subscribers, `other` one
    expect(text).toContain('flotilla_bus_delivered_total{kind="event"} 3\n')
    expect(text).toContain('flotilla_bus_delivered_total{kind="request"} 1\n')
    await bus.close()
  })
})
