import type { Meter } from '../telemetry/telemetry.js'
import type { Bus, BusMessage, EventHandler, RequestHandler } from './bus.js'

/** The kinds of bus traffic counted: mailbox messages, published events, requests. */
type Kind = 'message' | 'event' | 'request'

const KIND: Readonly<Record<Kind, { kind: Kind }>> = {
  message: { kind: 'message' },
  event: { kind: 'event' },
  request: { kind: 'request' },
}

/**
 * `bus` counting its traffic on `meter`: `flotilla.bus.published` (messages
 * sent, one per target of a broadcast; events published; requests sent) and
 * `flotilla.bus.delivered` (messages received from a mailbox, events handed
 * to a subscriber, requests handed to their handler), each by `kind`
 * (`message`, `event`, `request`). Every other call goes to `bus` as it is.
 *
 * @example
 * ```ts
 * const bus = meteredBus(new MemoryBus(), prometheus.meter)
 * ```
 */
export function meteredBus(bus: Bus, meter: Meter): Bus {
  const published = meter.createCounter('flotilla.bus.published', {
    description: 'Bus messages sent, events published and requests sent, by kind',
    unit: '{message}',
  })
  const delivered = meter.createCounter('flotilla.bus.delivered', {
    description: 'Bus messages received, events handed to subscribers and requests handed to handlers, by kind',
    unit: '{message}',
  })
  const metered: Bus = {
    async send(to, message, options) {
      const id = await bus.send(to, message, options)
      published.add(1, KIND.message)
      return id
    },
    async broadcast(targets, message, options) {
      const ids = await bus.broadcast(targets, message, options)
      published.add(ids.length, KIND.message)
      return ids
    },
    async receive(agent, options) {
      const messages = await bus.receive(agent, options)
      if (messages.length > 0) delivered.add(messages.length, KIND.message)
      return messages
    },
    ack: (agent, messageId) => bus.ack(agent, messageId),
    deadLetters: (agent) => bus.deadLetters(agent),
    replayDeadLetter: (agent, messageId) => bus.replayDeadLetter(agent, messageId),
    async publish(type, event, options) {
      const id = await bus.publish(type, event, options)
      published.add(1, KIND.event)
      return id
    },
    subscribe(type, filter, handler) {
      const counted: EventHandler = (event) => {
        delivered.add(1, KIND.event)
        return handler(event)
      }
      return bus.subscribe(type, filter, counted)
    },
    async request(to, message, options) {
      published.add(1, KIND.request)
      return bus.request(to, message, options)
    },
    onRequest(agent, handler) {
      const counted: RequestHandler = (request: BusMessage) => {
        delivered.add(1, KIND.request)
        return handler(request)
      }
      return bus.onRequest(agent, counted)
    },
    close: () => bus.close(),
  }
  const waitForMail = bus.waitForMail
  if (waitForMail !== undefined) metered.waitForMail = (agent, options) => waitForMail.call(bus, agent, options)
  return metered
}
