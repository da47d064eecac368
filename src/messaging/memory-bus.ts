import { randomUUID } from 'node:crypto'
import { type Clock, systemClock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type {
  Bus,
  BusEvent,
  BusOptions,
  BusMessage,
  DeadLetter,
  EventFilter,
  EventHandler,
  MessageHeaders,
  ReceiveOptions,
  RequestHandler,
  RequestOptions,
  SendOptions,
  Subscription,
  WaitForMailOptions,
} from './bus.js'
import { checkEventType, EventRouter } from './event-router.js'
import { MailWaiters } from './mail-waiters.js'
import { RequestBroker } from './request-broker.js'
import {
  checkAgentName,
  checkHandler,
  checkHeaders,
  checkPositive,
  checkSender,
  checkTargets,
  clonePayload,
  DEFAULT_MAX_PAYLOAD_BYTES,
  serializePayload,
} from './validate.js'

/** Options of {@link MemoryBus}: those of every bus. */
export type MemoryBusOptions = BusOptions

interface Entry {
  readonly id: string
  readonly from: string
  readonly to: string
  readonly text: string
  readonly headers: MessageHeaders
  readonly sentAt: number
  attempt: number
  visibleAt: number
}

/**
 * The in-process {@link Bus}: mailboxes, dead letters and subscriptions live
 * in memory (nothing survives the process). Visibility and request timeouts
 * follow the injected {@link Clock}, so tests drive them with `FakeClock`.
 *
 * @example
 * ```ts
 * const bus = new MemoryBus({ clock: new FakeClock() })
 * await bus.onRequest('specialist', (req) => ({ answer: req.body }))
 * const reply = await bus.request('specialist', 'why?', { timeoutMs: 1000 })
 * ```
 */
export class MemoryBus implements Bus {
  private readonly clock: Clock
  private readonly maxDeliveries: number
  private readonly maxBytes: number
  private readonly defaultVisibility: number
  private readonly isKnownAgent: ((agent: string) => boolean) | undefined
  private readonly onHandlerError: (error: unknown, event: BusEvent) => void
  private readonly boxes = new Map<string, Entry[]>()
  private readonly dead = new Map<string, DeadLetter[]>()
  private readonly router: EventRouter
  private readonly waiters: MailWaiters
  private readonly broker: RequestBroker
  private eventSeq = 0
  private closed = false

  constructor(options: MemoryBusOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.maxDeliveries = checkPositive(options.maxDeliveries ?? 5, 'maxDeliveries', true)
    this.maxBytes = checkPositive(options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 'maxPayloadBytes', true)
    this.defaultVisibility = checkPositive(options.defaultVisibilityTimeoutMs ?? 30_000, 'defaultVisibilityTimeoutMs')
    this.isKnownAgent = options.isKnownAgent
    this.onHandlerError = options.onHandlerError ?? (() => undefined)
    this.router = new EventRouter((err, event) => this.onHandlerError(err, event))
    this.waiters = new MailWaiters(this.clock, async (agent) => this.nextMailIn(agent))
    this.broker = new RequestBroker(this.clock, this.maxBytes)
  }

  async send(to: string, message: unknown, options: SendOptions = {}): Promise<string> {
    const [id] = this.enqueue([to], message, options)
    return id as string
  }

  async broadcast(targets: readonly string[], message: unknown, options: SendOptions = {}): Promise<string[]> {
    checkTargets(targets)
    return this.enqueue(targets, message, options)
  }

  async receive(agent: string, options: ReceiveOptions = {}): Promise<BusMessage[]> {
    this.open()
    checkAgentName(agent, 'agent')
    const max = checkPositive(options.max ?? 10, 'max', true)
    const visibility = checkPositive(options.visibilityTimeoutMs ?? this.defaultVisibility, 'visibilityTimeoutMs')
    this.sweep(agent)
    const now = this.clock.now()
    const blocked = new Set<string>()
    const out: BusMessage[] = []
    for (const entry of this.boxes.get(agent) ?? []) {
      if (out.length >= max) break
      if (blocked.has(entry.from)) continue
      if (entry.visibleAt > now) {
        blocked.add(entry.from) // keep per-sender order: later ones wait for this lease
        continue
      }
      entry.attempt++
      entry.visibleAt = now + visibility
      out.push(toMessage(entry))
    }
    return out
  }

  async ack(agent: string, messageId: string): Promise<boolean> {
    this.open()
    const box = this.boxes.get(checkAgentName(agent, 'agent'))
    const i = box ? box.findIndex((e) => e.id === messageId) : -1
    if (!box || i < 0) return false
    box.splice(i, 1)
    this.waiters.wake(agent) // a later message of the same sender may be free now
    return true
  }

  async deadLetters(agent: string): Promise<DeadLetter[]> {
    this.open()
    this.sweep(checkAgentName(agent, 'agent'))
    return (this.dead.get(agent) ?? []).map((d) => ({ ...d, body: structuredClone(d.body) }))
  }

  async replayDeadLetter(agent: string, messageId: string): Promise<boolean> {
    this.open()
    const list = this.dead.get(checkAgentName(agent, 'agent'))
    const i = list ? list.findIndex((d) => d.id === messageId) : -1
    if (!list || i < 0) return false
    const [d] = list.splice(i, 1) as [DeadLetter]
    const entry: Entry = {
      id: d.id,
      from: d.from,
      to: d.to,
      text: JSON.stringify(d.body),
      headers: d.headers,
      sentAt: d.sentAt,
      attempt: 0,
      visibleAt: 0,
    }
    this.box(agent).push(entry)
    this.waiters.wake(agent)
    return true
  }

  async publish(type: string, event: unknown, options: { from: string }): Promise<string> {
    this.open()
    checkEventType(type, false)
    const from = checkAgentName(options?.from, 'from')
    const data = clonePayload(event, this.maxBytes, 'event')
    const id = `evt_${++this.eventSeq}`
    if (this.router.has(type)) this.router.dispatch({ id, type, from, data, publishedAt: this.clock.wallNow() })
    return id
  }

  async subscribe(type: string, filter: EventFilter | undefined, handler: EventHandler): Promise<Subscription> {
    this.open()
    return this.router.subscribe(type, filter, handler)
  }

  async request(to: string, message: unknown, options: RequestOptions): Promise<unknown> {
    this.open()
    this.checkTarget(to)
    const timeoutMs = checkPositive(options?.timeoutMs, 'timeoutMs')
    const from = checkSender(options.from)
    const body = clonePayload(message, this.maxBytes, 'message')
    return this.broker.request({ from, to, body, headers: checkHeaders(options.headers), timeoutMs })
  }

  async onRequest(agent: string, handler: RequestHandler): Promise<Subscription> {
    this.open()
    checkAgentName(agent, 'agent')
    checkHandler(handler)
    return this.broker.onRequest(agent, handler)
  }

  async waitForMail(agent: string, options?: WaitForMailOptions): Promise<boolean> {
    this.open()
    return this.waiters.wait(agent, options)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.broker.close()
    this.router.clear()
    this.waiters.close()
  }

  private enqueue(targets: readonly string[], message: unknown, options: SendOptions): string[] {
    this.open()
    for (const t of targets) this.checkTarget(t)
    const from = checkSender(options.from)
    const headers = checkHeaders(options.headers)
    const text = serializePayload(message, this.maxBytes, 'message')
    const sentAt = this.clock.wallNow()
    return targets.map((to) => {
      const entry: Entry = { id: `msg_${randomUUID()}`, from, to, text, headers, sentAt, attempt: 0, visibleAt: 0 }
      this.box(to).push(entry)
      this.waiters.wake(to)
      return entry.id
    })
  }

  /** Milliseconds until the first message of some sender's lane is visible; `undefined` for an empty mailbox. */
  private nextMailIn(agent: string): number | undefined {
    this.sweep(agent)
    const heads = new Set<string>()
    let next: number | undefined
    for (const e of this.boxes.get(agent) ?? []) {
      if (heads.has(e.from)) continue // only a lane's first message decides when the lane moves
      heads.add(e.from)
      if (next === undefined || e.visibleAt < next) next = e.visibleAt
    }
    return next === undefined ? undefined : next - this.clock.now()
  }

  /** Moves messages whose last lease expired after `maxDeliveries` deliveries to the dead letters. */
  private sweep(agent: string): void {
    const box = this.boxes.get(agent)
    if (!box) return
    const now = this.clock.now()
    for (let i = 0; i < box.length; ) {
      const e = box[i] as Entry
      if (e.attempt >= this.maxDeliveries && e.visibleAt <= now) {
        box.splice(i, 1)
        const reason = `Delivered ${e.attempt} times without acknowledgement (maxDeliveries ${this.maxDeliveries}).`
        let list = this.dead.get(agent)
        if (!list) this.dead.set(agent, (list = []))
        list.push({ ...toMessage(e), deadAt: this.clock.wallNow(), reason })
      } else i++
    }
  }

  private checkTarget(to: string): void {
    checkAgentName(to, 'to')
    if (this.isKnownAgent && !this.isKnownAgent(to)) {
      throw new FlotillaError('AGENT_NOT_FOUND', `No agent "${to}" to deliver to.`, { details: { agent: to } })
    }
  }

  private box(agent: string): Entry[] {
    let box = this.boxes.get(agent)
    if (!box) this.boxes.set(agent, (box = []))
    return box
  }

  private open(): void {
    if (this.closed)
      throw new FlotillaError(
        'BUS_CLOSED',
        'The in-memory bus is closed; create a new MemoryBus to send, receive or publish.',
      )
  }
}

function toMessage(e: Entry): BusMessage {
  return {
    id: e.id,
    from: e.from,
    to: e.to,
    body: JSON.parse(e.text),
    headers: e.headers,
    attempt: e.attempt,
    sentAt: e.sentAt,
  }
}
