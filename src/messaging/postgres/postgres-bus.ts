import { randomUUID } from 'node:crypto'
import type { Pool } from 'pg'
import type { Clock } from '../../core/clock.js'
import { FlotillaError } from '../../core/errors.js'
import type {
  Bus,
  BusMessage,
  DeadLetter,
  EventFilter,
  EventHandler,
  ReceiveOptions,
  RequestHandler,
  RequestOptions,
  SendOptions,
  Subscription,
  WaitForMailOptions,
} from '../bus.js'
import { checkEventType, EventRouter } from '../event-router.js'
import { MailWaiters } from '../mail-waiters.js'
import {
  checkAgentName,
  checkHandler,
  checkHeaders,
  checkPositive,
  checkSender,
  checkTargets,
  serializePayload,
} from '../validate.js'
import { busClosed, busError, Db } from './db.js'
import { Listener } from './listener.js'
import { mailNote } from './notes.js'
import { BusNotes } from './bus-notes.js'
import { createTables, newBusPool } from './bus-pool.js'
import { toMessage, type DeadRow, type MessageRow } from './mailbox-rows.js'
import { type PostgresBusOptions, resolveBusOptions, type ResolvedBusOptions } from './options.js'
import { PgRequests } from './requests.js'
import { channelOf, statements, type Statements } from './schema.js'

/**
 * The PostgreSQL {@link Bus}: agents in different processes and on different
 * hosts reach one another through one database. Mailboxes and dead letters
 * are tables (`flotilla_bus_*` in the chosen schema), so messages survive a
 * restart of any process; a lease is a `visible_at` in the future, taken by
 * one statement under a per-mailbox advisory lock, so many concurrent
 * receivers never get the same message and a sender's later message never
 * overtakes a leased one. Events, request notices, replies and mail wake-ups
 * travel by LISTEN/NOTIFY on one channel per schema (over 7,900 bytes, the
 * note is stored and its id notified). Leases and timeouts use the injected
 * {@link Clock}'s wall time, so hosts' clocks should agree (NTP).
 *
 * Open it with {@link openPostgresBus}; import both from `flotilla/postgres`.
 *
 * @example
 * ```ts
 * const bus = await openPostgresBus({ connectionString: 'postgres://flotilla@db:5432/app' })
 * await bus.send('analyst', { finding: 42 }, { from: 'researcher' })
 * ```
 */
export class PostgresBus implements Bus {
  /** The PostgreSQL schema holding the tables. */
  readonly schema: string
  /** This instance's id (replies to its requests are addressed to it). */
  readonly instance = `bus_${randomUUID()}`
  private readonly clock: Clock
  private readonly o: ResolvedBusOptions
  private readonly sql: Statements
  private readonly channel: string
  private readonly db: Db
  private readonly router: EventRouter
  private readonly waiters: MailWaiters
  private readonly requests: PgRequests
  private readonly listener: Listener
  private readonly notes: BusNotes
  private closed = false
  private closing: Promise<void> | undefined

  private constructor(
    private readonly pool: Pool,
    private readonly ownsPool: boolean,
    o: ResolvedBusOptions,
  ) {
    this.o = o
    this.schema = o.schema
    this.clock = o.clock
    this.sql = statements(o.schema)
    this.channel = channelOf(o.schema)
    this.db = new Db(pool, o.where, () => this.closed)
    this.router = new EventRouter((err, event) => o.onHandlerError(err, event))
    this.waiters = new MailWaiters(this.clock, (agent) => this.nextMailIn(agent))
    this.requests = new PgRequests({
      db: this.db,
      sql: this.sql,
      clock: this.clock,
      instance: this.instance,
      channel: this.channel,
      maxBytes: o.maxPayloadBytes,
      sendNote: (text, route) => this.notes.send(text, route),
      onError: (err) => o.onError(err),
    })
    this.notes = new BusNotes({
      db: this.db,
      sql: this.sql,
      clock: this.clock,
      instance: this.instance,
      channel: this.channel,
      router: this.router,
      waiters: this.waiters,
      requests: this.requests,
      isClosed: () => this.closed,
    })
    this.listener = new Listener(pool, this.channel, this.clock, {
      onNote: (payload) => this.notes.receive(payload),
      onReconnect: () => {
        // Notes sent while the connection was down are lost: look again.
        this.waiters.wakeAll()
        this.requests.drainAll()
      },
      onError: (err) => o.onError(err),
    })
  }

  /**
   * Connects, creates the schema and tables when missing, and starts
   * listening. Prefer {@link openPostgresBus}.
   *
   * @throws FlotillaError `VALIDATION_FAILED` or `STORE_URL_INVALID` for bad options, `STORE_UNAVAILABLE` when the server cannot be reached.
   */
  static async open(options: PostgresBusOptions): Promise<PostgresBus> {
    const o = resolveBusOptions(options)
    const ownsPool = o.pool === undefined
    const pool = o.pool ?? (await newBusPool(o))
    const bus = new PostgresBus(pool, ownsPool, o)
    try {
      await createTables(pool, o.schema, o.where)
      await bus.listener.start()
    } catch (err) {
      bus.closed = true
      await bus.listener.close()
      if (ownsPool) await pool.end().catch(() => undefined)
      throw busError(err, o.where)
    }
    return bus
  }

  async send(to: string, message: unknown, options: SendOptions = {}): Promise<string> {
    this.assertOpen()
    this.checkTarget(to)
    const from = checkSender(options.from)
    const headers = JSON.stringify(checkHeaders(options.headers))
    const text = serializePayload(message, this.o.maxPayloadBytes, 'message')
    const id = `msg_${randomUUID()}`
    await this.db.rows(this.sql.send, [id, from, to, text, headers, this.clock.wallNow(), this.channel, mailNote(to)])
    return id
  }

  async broadcast(targets: readonly string[], message: unknown, options: SendOptions = {}): Promise<string[]> {
    checkTargets(targets)
    this.assertOpen()
    for (const t of targets) this.checkTarget(t)
    const from = checkSender(options.from)
    const headers = JSON.stringify(checkHeaders(options.headers))
    const text = serializePayload(message, this.o.maxPayloadBytes, 'message')
    const ids = targets.map(() => `msg_${randomUUID()}`)
    if (ids.length === 0) return ids
    const notes = [...new Set(targets)].map(mailNote)
    await this.db.rows(this.sql.broadcast, [
      ids,
      from,
      [...targets],
      text,
      headers,
      this.clock.wallNow(),
      this.channel,
      notes,
    ])
    return ids
  }

  async receive(agent: string, options: ReceiveOptions = {}): Promise<BusMessage[]> {
    this.assertOpen()
    checkAgentName(agent, 'agent')
    const max = checkPositive(options.max ?? 10, 'max', true)
    const lease = checkPositive(options.visibilityTimeoutMs ?? this.o.defaultVisibilityTimeoutMs, 'visibilityTimeoutMs')
    const rows = await this.db.rows<MessageRow>(this.sql.receive, [
      agent,
      this.clock.wallNow(),
      lease,
      this.o.maxDeliveries,
      Math.min(max, 2_147_483_647),
    ])
    return rows.map((r) => toMessage(r, agent))
  }

  async ack(agent: string, messageId: string): Promise<boolean> {
    this.assertOpen()
    checkAgentName(agent, 'agent')
    if (typeof messageId !== 'string') return false
    const [row] = await this.db.rows<{ n: number }>(this.sql.ack, [
      agent,
      messageId,
      this.channel,
      mailNote(agent),
      this.clock.wallNow(),
    ])
    return (row?.n ?? 0) > 0
  }

  async deadLetters(agent: string): Promise<DeadLetter[]> {
    this.assertOpen()
    checkAgentName(agent, 'agent')
    await this.db.rows(this.sql.sweep, [agent, this.clock.wallNow(), this.o.maxDeliveries])
    const rows = await this.db.rows<DeadRow>(this.sql.deadLetters, [agent])
    return rows.map((r) => ({ ...toMessage(r, agent), deadAt: Number(r.dead_at), reason: r.reason }))
  }

  async replayDeadLetter(agent: string, messageId: string): Promise<boolean> {
    this.assertOpen()
    checkAgentName(agent, 'agent')
    if (typeof messageId !== 'string') return false
    const [row] = await this.db.rows<{ n: number }>(this.sql.replay, [agent, messageId, this.channel, mailNote(agent)])
    return (row?.n ?? 0) > 0
  }

  async publish(type: string, event: unknown, options: { from: string }): Promise<string> {
    this.assertOpen()
    checkEventType(type, false)
    const from = checkAgentName(options?.from, 'from')
    const text = serializePayload(event, this.o.maxPayloadBytes, 'event')
    const id = `evt_${randomUUID()}`
    const publishedAt = this.clock.wallNow()
    const evt = `{"id":${JSON.stringify(id)},"type":${JSON.stringify(type)},"from":${JSON.stringify(from)},"data":${text},"publishedAt":${publishedAt}}`
    // Notified first: when the database refuses, nobody (here or elsewhere) got the event.
    await this.notes.send(`{"k":"e","src":${JSON.stringify(this.instance)},"evt":${evt}}`, { src: this.instance })
    if (this.router.has(type)) this.router.dispatch({ id, type, from, data: JSON.parse(text), publishedAt })
    return id
  }

  async subscribe(type: string, filter: EventFilter | undefined, handler: EventHandler): Promise<Subscription> {
    this.assertOpen()
    return this.router.subscribe(type, filter, handler)
  }

  async request(to: string, message: unknown, options: RequestOptions): Promise<unknown> {
    this.assertOpen()
    this.checkTarget(to)
    const timeoutMs = checkPositive(options?.timeoutMs, 'timeoutMs')
    const from = checkSender(options.from)
    const text = serializePayload(message, this.o.maxPayloadBytes, 'message')
    return this.requests.request({ from, to, text, headers: checkHeaders(options.headers), timeoutMs })
  }

  async onRequest(agent: string, handler: RequestHandler): Promise<Subscription> {
    this.assertOpen()
    checkAgentName(agent, 'agent')
    checkHandler(handler)
    return this.requests.onRequest(agent, handler)
  }

  async waitForMail(agent: string, options?: WaitForMailOptions): Promise<boolean> {
    this.assertOpen()
    return this.waiters.wait(agent, options)
  }

  /**
   * Fails pending requests with `TASK_CANCELLED` (deleting their rows),
   * settles mail waiters with `false`, stops listening and, when the bus
   * opened the pool, ends it. Stored messages stay. Idempotent.
   */
  async close(): Promise<void> {
    this.closed = true
    this.closing ??= (async () => {
      await this.requests.close()
      this.router.clear()
      this.waiters.close()
      await this.listener.close()
      if (this.ownsPool) await this.pool.end().catch(() => undefined)
    })()
    await this.closing
  }

  /** Milliseconds until the first message of some lane of `agent`'s mailbox is visible; `undefined` when it is empty. */
  private async nextMailIn(agent: string): Promise<number | undefined> {
    const [row] = await this.db.rows<{ next: number | null }>(this.sql.nextVisible, [agent, this.clock.wallNow()])
    // Against the clock now, not when the query started: time may have moved meanwhile.
    return row === undefined || row.next === null ? undefined : Number(row.next) - this.clock.wallNow()
  }

  private checkTarget(to: string): void {
    checkAgentName(to, 'to')
    if (this.o.isKnownAgent && !this.o.isKnownAgent(to)) {
      throw new FlotillaError('AGENT_NOT_FOUND', `No agent "${to}" to deliver to.`, { details: { agent: to } })
    }
  }

  private assertOpen(): void {
    if (this.closed) throw busClosed(this.o.where)
  }
}

/**
 * Opens the PostgreSQL {@link Bus}: connects (its own pool from
 * `connectionString`, or the given `pool`), creates the schema and the
 * `flotilla_bus_*` tables when missing (idempotent, safe from many processes
 * at once), and starts LISTENing. Every process that opens a bus on the same
 * database and schema reaches the others.
 *
 * @throws FlotillaError `VALIDATION_FAILED` or `STORE_URL_INVALID` for bad options, `STORE_UNAVAILABLE` when the server cannot be reached.
 *
 * @example
 * ```ts
 * import { openPostgresBus } from 'flotilla/postgres'
 *
 * const bus = await openPostgresBus({ connectionString: process.env.DATABASE_URL!, schema: 'flotilla' })
 * await bus.onRequest('specialist', (req) => ({ answer: req.body }))
 * // in another process:
 * const reply = await bus.request('specialist', 'why?', { timeoutMs: 5_000 })
 * ```
 */
export function openPostgresBus(options: PostgresBusOptions): Promise<PostgresBus> {
  return PostgresBus.open(options)
}
