import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import type { AlertRaisedEvent, AlertResolvedEvent } from '../../core/events.js'
import { errorFields, noopLogger, type Logger } from '../telemetry.js'
import type { AlertWebhookConfig } from './config.js'

/** The header carrying the signature: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export const ALERT_SIGNATURE_HEADER = 'x-flotilla-signature'
/** The header carrying the time of signing, in ms since the epoch (part of what is signed). */
export const ALERT_TIMESTAMP_HEADER = 'x-flotilla-timestamp'
/** The header carrying the id of the delivery (the same on every attempt of one alert event). */
export const ALERT_DELIVERY_HEADER = 'x-flotilla-delivery'

/** Most alert events waiting for the webhook; past it the oldest is dropped (and logged). */
const MAX_QUEUE = 1000
const MAX_BACKOFF_MS = 30_000

/** The signature of a webhook body: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` with `secret`. */
export function signAlertBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/**
 * Checks a webhook request on the receiving side: the signature must match
 * the body and timestamp, and the timestamp be within `toleranceMs` of now
 * (a replayed old request fails). Compare in constant time.
 *
 * @example
 * ```ts
 * import { signAlertBody, verifyAlertSignature } from 'flotilla'
 * const secret = 'a shared secret of 16+ characters'
 * const body = '{"type":"alert.raised"}'
 * const timestamp = Date.now()
 * const signature = signAlertBody(secret, timestamp, body)
 * console.log(verifyAlertSignature({ secret, body, timestamp: String(timestamp), signature })) // true
 * ```
 */
export function verifyAlertSignature(request: {
  secret: string
  body: string
  /** The `x-flotilla-timestamp` header. */
  timestamp: string | undefined
  /** The `x-flotilla-signature` header. */
  signature: string | undefined
  /** @default 300000 (5 minutes) */
  toleranceMs?: number
  /** @default Date.now() */
  now?: number
}): boolean {
  const { secret, body, timestamp, signature } = request
  if (timestamp === undefined || signature === undefined || !/^\d{1,15}$/.test(timestamp)) return false
  const at = Number(timestamp)
  if (Math.abs((request.now ?? Date.now()) - at) > (request.toleranceMs ?? 300_000)) return false
  const expected = Buffer.from(signAlertBody(secret, at, body))
  const given = Buffer.from(signature)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/** What a {@link AlertWebhook} is told of each delivery, for tests and metrics. */
export interface WebhookOutcome {
  delivery: string
  ok: boolean
  attempts: number
  /** The last HTTP status, or undefined after a network error or a timeout. */
  status: number | undefined
}

/**
 * Posts alert events to a webhook, one at a time in order, off the caller's
 * path: `send` only queues. Each is retried with exponential backoff and
 * jitter on a network error, a timeout, a 429 or a 5xx; after `maxAttempts`
 * (or a 4xx) it gives up and logs an error. Never throws to the caller.
 */
export class AlertWebhook {
  private readonly queue: Array<AlertRaisedEvent | AlertResolvedEvent> = []
  private running: Promise<void> | undefined
  private closed = false
  private readonly abort = new AbortController()

  constructor(
    private readonly config: AlertWebhookConfig,
    private readonly logger: Logger = noopLogger,
    private readonly onOutcome?: (outcome: WebhookOutcome) => void,
  ) {}

  /** Queues an alert event for delivery. */
  send(event: AlertRaisedEvent | AlertResolvedEvent): void {
    if (this.closed) return
    if (this.queue.length >= MAX_QUEUE) {
      const dropped = this.queue.shift()
      this.logger.error(
        { alertId: dropped?.alert.id, url: this.config.url },
        'the alert webhook is too far behind; the oldest waiting alert event was dropped',
      )
    }
    this.queue.push(event)
    this.running ??= this.drain().finally(() => (this.running = undefined))
  }

  /** Waits for the queued deliveries (at most `graceMs`), then stops; later sends are ignored. */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true
    const running = this.running
    if (running === undefined) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))])
    clearTimeout(timer)
    this.abort.abort()
    this.queue.length = 0
  }

  private async drain(): Promise<void> {
    for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) {
      if (this.abort.signal.aborted) return
      await this.deliver(e)
    }
  }

  private async deliver(event: AlertRaisedEvent | AlertResolvedEvent): Promise<void> {
    const { url, secret, maxAttempts = 5, backoffMs = 500, timeoutMs = 5000 } = this.config
    const body = JSON.stringify({ type: event.type, at: event.at, alert: event.alert })
    const delivery = randomUUID()
    let status: number | undefined
    let reason = ''
    let attempts = 0
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      attempts = attempt
      const timestamp = Date.now()
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'flotilla-alerts',
        'x-flotilla-event': event.type,
        [ALERT_DELIVERY_HEADER]: delivery,
        [ALERT_TIMESTAMP_HEADER]: String(timestamp),
        ...(secret === undefined ? {} : { [ALERT_SIGNATURE_HEADER]: signAlertBody(secret, timestamp, body) }),
      }
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]),
        })
        status = res.status
        await res.arrayBuffer().catch(() => undefined)
        if (res.ok) return this.onOutcome?.({ delivery, ok: true, attempts: attempt, status })
        reason = `HTTP ${res.status}`
        if (res.status < 500 && res.status !== 429 && res.status !== 408) break
      } catch (e) {
        status = undefined
        reason = (e as Error).message
        if (this.abort.signal.aborted) break
      }
      if (attempt < maxAttempts) {
        const delay = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (attempt - 1))
        await sleep(delay / 2 + (Math.random() * delay) / 2, this.abort.signal)
      } else break
    }
    this.logger.error(
      { ...errorFields(new Error(reason)), url, delivery, alertId: event.alert.id, eventType: event.type },
      `the alert webhook gave up after ${attempts} attempt(s) (${reason}); the alert is still listed by GET /api/v1/alerts`,
    )
    this.onOutcome?.({ delivery, ok: false, attempts, status })
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
