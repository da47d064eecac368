import type { Client, ClientConfig, Notification } from 'pg'
import { quoteIdent } from '../../db/postgres/ident.js'

const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 5_000

/**
 * The queue's LISTEN connection: one dedicated connection (not one of the
 * pool's), opened on the first {@link QueueListener.start}. Every
 * notification on the channel calls `wake`. When the connection fails or
 * drops it is reopened in the background with exponential backoff (100 ms up
 * to 5 s, timers unref'd), and `wake` is called once it listens again, since
 * notifications sent meanwhile are lost. Failures are never thrown: the
 * waiters' timeouts are the safety poll.
 */
export class QueueListener {
  private client: Client | undefined
  private connecting: Promise<void> | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private retryMs = FIRST_RETRY_MS
  private closed = false

  constructor(
    private readonly config: ClientConfig,
    private readonly channel: string,
    private readonly wake: () => void,
  ) {}

  /** Whether the connection is up and LISTENing (notifications are being received). */
  get listening(): boolean {
    return this.client !== undefined
  }

  /** Opens the connection unless it is open, opening, or waiting to retry. Never throws. */
  start(): void {
    if (this.closed || this.client !== undefined || this.connecting !== undefined || this.retryTimer !== undefined)
      return
    this.connecting = this.connect().finally(() => {
      this.connecting = undefined
    })
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  async close(): Promise<void> {
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    await this.connecting
    const c = this.client
    this.client = undefined
    await c?.end().catch(() => undefined)
  }

  private async connect(): Promise<void> {
    let c: Client | undefined
    try {
      const pg = (await import('pg')).default
      const client = new pg.Client(this.config)
      c = client
      // An 'error' with no listener would crash the process: a dropped connection is handled here instead.
      client.on('error', () => this.lost(client))
      client.on('end', () => this.lost(client))
      client.on('notification', (n: Notification) => {
        if (n.channel === this.channel) this.wake()
      })
      await client.connect()
      await client.query(`LISTEN ${quoteIdent(this.channel)}`)
    } catch {
      await c?.end().catch(() => undefined)
      this.retry()
      return
    }
    if (this.closed) {
      await c.end().catch(() => undefined)
      return
    }
    this.client = c
    this.retryMs = FIRST_RETRY_MS
    // Whatever was notified before LISTEN took effect was missed: let the waiters look.
    this.wake()
  }

  private lost(c: Client): void {
    if (this.client !== c) return
    this.client = undefined
    c.end().catch(() => undefined)
    this.retry()
  }

  private retry(): void {
    if (this.closed || this.retryTimer !== undefined) return
    const delay = this.retryMs
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.start()
    }, delay)
    this.retryTimer.unref()
  }
}
