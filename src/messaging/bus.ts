/**
 * The `Bus` port: durable direct messages between agents, typed events with
 * filtered subscriptions, request/reply and broadcast. Adapters (memory,
 * PostgreSQL…) implement it; the shared contract suite in
 * `test/contract/bus.contract.ts` pins its behaviour.
 */
import type { Clock } from '../core/clock.js'

/** A JSON primitive, the only value a filter may compare against. */
export type JsonPrimitive = string | number | boolean | null

/** Optional string headers carried with a message (trace ids, content type…). */
export type MessageHeaders = Readonly<Record<string, string>>

/** A direct message as handed to its receiver. */
export interface BusMessage {
  /** Id assigned by the bus on `send`; pass it to {@link Bus.ack}. */
  readonly id: string
  /** The sending agent, or `"external"` when the sender did not say. */
  readonly from: string
  /** The receiving agent (the mailbox). */
  readonly to: string
  /** The JSON payload, a copy of what was sent. */
  readonly body: unknown
  /** Headers given on send (empty object when none). */
  readonly headers: MessageHeaders
  /** 1 on the first delivery, +1 on every redelivery. */
  readonly attempt: number
  /** Wall-clock milliseconds at which the message was accepted. */
  readonly sentAt: number
}

/** A message that was delivered `maxDeliveries` times without acknowledgement. */
export interface DeadLetter extends BusMessage {
  /** Wall-clock milliseconds at which it was dead-lettered. */
  readonly deadAt: number
  /** Why it was dead-lettered. */
  readonly reason: string
}

/** Options of {@link Bus.send} and {@link Bus.broadcast}. */
export interface SendOptions {
  /** The sending agent. */
  from?: string
  /** String headers stored with the message. */
  headers?: MessageHeaders
}

/** Options of {@link Bus.receive}. */
export interface ReceiveOptions {
  /** Most messages to return (default 10). */
  max?: number
  /** How long received messages stay hidden before redelivery (default 30 000 ms). */
  visibilityTimeoutMs?: number
}

/** An event as seen by subscribers. */
export interface BusEvent {
  /** Id assigned by the bus. */
  readonly id: string
  /** The event type (`status_change`, `error`, `progress` or a custom type). */
  readonly type: string
  /** The publishing agent. */
  readonly from: string
  /** The JSON payload. */
  readonly data: unknown
  /** Wall-clock milliseconds at which it was published. */
  readonly publishedAt: number
}

/**
 * Narrows a subscription. `from` keeps events published by those agents;
 * `where` keeps events whose data has, at each dotted path, exactly the given
 * primitive (`{ 'status.state': 'FAILED' }`). All conditions must hold.
 */
export interface EventFilter {
  /** One agent name or a non-empty list of them. */
  from?: string | readonly string[]
  /** Equality conditions on dotted paths into the event's data. */
  where?: Readonly<Record<string, JsonPrimitive>>
}

/** Called for each matching event; a rejection is reported, never rethrown to the publisher. */
export type EventHandler = (event: BusEvent) => void | Promise<void>

/** Answers a request; the resolved value is the reply sent back to the requester. */
export type RequestHandler = (request: BusMessage) => unknown

/** A handle that stops a subscription or a request handler. */
export interface Subscription {
  /** Stops delivery. Idempotent. */
  unsubscribe(): Promise<void>
}

/** Options of {@link Bus.publish}. */
export interface PublishOptions {
  /** The publishing agent. */
  from: string
}

/** Options of {@link Bus.request}. */
export interface RequestOptions {
  /** How long to wait for the reply before failing with `TASK_TIMEOUT`. */
  timeoutMs: number
  /** The requesting agent. */
  from?: string
  /** String headers sent with the request. */
  headers?: MessageHeaders
}

/** Options of {@link Bus.waitForMail}. */
export interface WaitForMailOptions {
  /** Give up after this many milliseconds (resolving `false`). @default no limit */
  timeoutMs?: number
  /** Give up when this signal aborts (resolving `false`). */
  signal?: AbortSignal
}

/**
 * The messaging port. Every payload (message body, event data, reply) must be
 * JSON-serialisable and within the adapter's size limit, or the call fails
 * with `VALIDATION_FAILED`; nothing is accepted and then dropped silently.
 *
 * @example
 * ```ts
 * const id = await bus.send('analyst', { finding: 42 }, { from: 'researcher' })
 * const [msg] = await bus.receive('analyst')
 * await bus.ack('analyst', msg.id)
 * ```
 */
export interface Bus {
  /** Puts a message in `to`'s durable mailbox and returns its id. */
  send(to: string, message: unknown, options?: SendOptions): Promise<string>
  /**
   * Leases up to `max` visible messages of `agent`'s mailbox. Messages of one
   * sender come in the order sent; a sender's later messages wait while an
   * earlier one is leased and unacknowledged.
   */
  receive(agent: string, options?: ReceiveOptions): Promise<BusMessage[]>
  /** Removes a received message for good; `false` if it is not in the mailbox. */
  ack(agent: string, messageId: string): Promise<boolean>
  /** The dead letters of `agent`'s mailbox, oldest first. */
  deadLetters(agent: string): Promise<DeadLetter[]>
  /** Moves a dead letter back to the mailbox with its attempt count reset; `false` if unknown. */
  replayDeadLetter(agent: string, messageId: string): Promise<boolean>
  /** Publishes an event of `type` to matching subscribers; returns the event id. */
  publish(type: string, event: unknown, options: PublishOptions): Promise<string>
  /** Subscribes to one event type, or every type with `'*'`; an invalid filter fails with `VALIDATION_FAILED`. */
  subscribe(type: string, filter: EventFilter | undefined, handler: EventHandler): Promise<Subscription>
  /** Sends a request to `to` and resolves with its reply, or fails with `TASK_TIMEOUT`. */
  request(to: string, message: unknown, options: RequestOptions): Promise<unknown>
  /** Answers requests addressed to `agent` (one handler per agent; a new one replaces the old). */
  onRequest(agent: string, handler: RequestHandler): Promise<Subscription>
  /** Sends one message to each target (validated first: all or none); returns the ids in target order. */
  broadcast(targets: readonly string[], message: unknown, options?: SendOptions): Promise<string[]>
  /**
   * Waits, without polling, until `agent`'s mailbox may hold a receivable
   * message: resolves `true` at once when one is there, when one is sent,
   * when an ack or a replay frees a message, or when a lease ends; `false`
   * when `timeoutMs` passes, the signal aborts or the bus closes. A `true`
   * is a hint (another consumer may take the message first): call
   * {@link Bus.receive} next. Optional for adapters; both built-in adapters
   * have it.
   *
   * @example
   * ```ts
   * while (!signal.aborted) {
   *   for (const msg of await bus.receive('analyst')) await handle(msg).then(() => bus.ack('analyst', msg.id))
   *   await bus.waitForMail?.('analyst', { signal, timeoutMs: 30_000 })
   * }
   * ```
   */
  waitForMail?(agent: string, options?: WaitForMailOptions): Promise<boolean>
  /** Stops timers and fails pending requests; later calls fail with `BUS_CLOSED`. */
  close(): Promise<void>
}

/** Options every bus adapter takes (each adds its own). */
export interface BusOptions {
  /** Time source of visibility timeouts, request timeouts and timestamps. @default systemClock */
  clock?: Clock
  /** Deliveries before a message is dead-lettered. @default 5 */
  maxDeliveries?: number
  /** Largest payload (message body, event data, reply), in bytes of JSON. @default 262144 (256 KiB) */
  maxPayloadBytes?: number
  /** Visibility timeout when `receive` gives none, in ms. @default 30000 */
  defaultVisibilityTimeoutMs?: number
  /** When given, messages and requests to names it rejects fail with `AGENT_NOT_FOUND`. */
  isKnownAgent?: (agent: string) => boolean
  /** Receives errors thrown by event handlers. @default ignored */
  onHandlerError?: (error: unknown, event: BusEvent) => void
}
