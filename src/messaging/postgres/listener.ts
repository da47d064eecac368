import type { Notification, Pool, PoolClient } from 'pg'
import type { Clock, TimerHandle } from '../../core/clock.js'
import { quoteIdent } from '../../db/postgres/ident.js'

/** What a {@link Listener} calls. */
export interface ListenerHooks {
  /** Handles one payload; the next waits until the returned promise settles, so notes keep their order. */
  onNote(payload: string): void | Promise<void>
  /** The connection was lost and is back: notes sent meanwhile are gone, so look again. */
  onReconnect(): void
  /** A failure of the listening connection or of `onNote` (reported, not thrown). */
  onError(error: unknown): void
}

const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 5_000

/**
 * One dedicated connection that LISTENs on the bus channel and hands the
 * payloads, in order, to the bus. When the connection drops it reconnects
 * with exponential backoff (on the bus clock) and calls `onReconnect`.
 */
export class Listener {
  private client: PoolClient | undefined
  private queue: Promise<void> = Promise.resolve()
  private retryTimer: TimerHandle | undefined
  private retryMs = FIRST_RETRY_MS
  private closed = false

  constructor(
    private readonly pool: Pool,
    private readonly channel: string,
    private readonly clock: Clock,
    private readonly hooks: ListenerHooks,
  ) {}

  /** Connects and LISTENs; rejects when the first connection fails. */
  async start(): Promise<void> {
    await this.connect()
  }

  /** Stops listening, releases the connection and waits for the notes being handled. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer)
    const c = this.client
    this.client = undefined
    // Destroyed, not returned to the pool: it carries our LISTEN and event handlers.
    c?.release(true)
    await this.queue
  }

  private async connect(): Promise<void> {
    const c = await this.pool.connect()
    const lost = (err: unknown): void => this.lost(c, err)
    c.on('error', lost)
    c.on('end', () => lost(new Error('The LISTEN connection ended.')))
    c.on('notification', (n: Notification) => {
      if (n.channel === this.channel && n.payload !== undefined) this.enqueue(n.payload)
    })
    try {
      await c.query(`LISTEN ${quoteIdent(this.channel)}`)
    } catch (err) {
      c.release(true)
      throw err
    }
    if (this.closed) {
      c.release(true)
      return
    }
    this.client = c
    this.retryMs = FIRST_RETRY_MS
  }

  private enqueue(payload: string): void {
    if (this.closed) return
    this.queue = this.queue
      .then(
        () => this.hooks.onNote(payload),
        () => undefined,
      )
      .then(undefined, (err: unknown) => this.hooks.onError(err))
  }

  private lost(c: PoolClient, err: unknown): void {
    if (this.closed || this.client !== c) return
    this.client = undefined
    c.release(true)
    this.hooks.onError(err)
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (this.closed) return
    const delay = this.retryMs
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2)
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined
      this.connect().then(
        () => {
          if (!this.closed) this.hooks.onReconnect()
        },
        (err: unknown) => {
          this.hooks.onError(err)
          this.scheduleReconnect()
        },
      )
    }, delay)
  }
}
