import { randomUUID } from 'node:crypto'
import type { Clock, TimerHandle } from '../core/clock.js'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { BusMessage, MessageHeaders, RequestHandler, Subscription } from './bus.js'
import { serializePayload } from './validate.js'

interface PendingRequest {
  readonly request: BusMessage
  readonly resolve: (reply: unknown) => void
  readonly reject: (error: unknown) => void
  timer: TimerHandle | undefined
  settled: boolean
}

/** What {@link RequestBroker.request} needs, already validated by the bus. */
export interface BrokerRequest {
  /** The requesting agent. */
  from: string
  /** The answering agent. */
  to: string
  /** The request body, already a JSON copy. */
  body: unknown
  /** Headers sent with the request. */
  headers: MessageHeaders
  /** Milliseconds before `TASK_TIMEOUT`. */
  timeoutMs: number
}

/**
 * In-process request/reply for bus adapters: one responder per agent,
 * requests queued until a responder registers, timeouts on the injected clock.
 */
export class RequestBroker {
  private readonly responders = new Map<string, RequestHandler>()
  private readonly waiting = new Map<string, PendingRequest[]>()
  private readonly pending = new Set<PendingRequest>()

  constructor(
    private readonly clock: Clock,
    private readonly maxBytes: number,
  ) {}

  /** Sends a request and resolves with the JSON reply; `TASK_TIMEOUT` when none comes in time. */
  request(input: BrokerRequest): Promise<unknown> {
    const { from, to, body, headers, timeoutMs } = input
    const request: BusMessage = {
      id: `req_${randomUUID()}`,
      from,
      to,
      body,
      headers,
      attempt: 1,
      sentAt: this.clock.wallNow(),
    }
    return new Promise<unknown>((resolve, reject) => {
      const p: PendingRequest = { request, resolve, reject, timer: undefined, settled: false }
      p.timer = this.clock.setTimeout(() => {
        this.finish(p)
        reject(
          new FlotillaError('TASK_TIMEOUT', `No reply from "${to}" within ${timeoutMs} ms.`, {
            details: { to, timeoutMs, requestId: request.id },
          }),
        )
      }, timeoutMs)
      this.pending.add(p)
      const responder = this.responders.get(to)
      if (responder) this.answer(responder, p)
      else this.queue(to).push(p)
    })
  }

  /** Registers the responder of `agent`, replacing any earlier one, and answers queued requests. */
  onRequest(agent: string, handler: RequestHandler): Subscription {
    this.responders.set(agent, handler)
    const queued = this.waiting.get(agent) ?? []
    this.waiting.delete(agent)
    for (const p of queued) if (!p.settled) this.answer(handler, p)
    return {
      unsubscribe: async () => {
        if (this.responders.get(agent) === handler) this.responders.delete(agent)
      },
    }
  }

  /** Fails every pending request with `TASK_CANCELLED` and forgets the responders. */
  close(): void {
    for (const p of [...this.pending]) {
      this.finish(p)
      p.reject(
        new FlotillaError('TASK_CANCELLED', `The bus closed before "${p.request.to}" replied.`, {
          details: { to: p.request.to },
        }),
      )
    }
    this.responders.clear()
    this.waiting.clear()
  }

  private answer(handler: RequestHandler, p: PendingRequest): void {
    Promise.resolve()
      .then(() => handler(p.request))
      .then(
        (reply) => serializePayload(reply === undefined ? null : reply, this.maxBytes, 'reply'),
        (err: unknown) => {
          throw toFlotillaError(err, 'TASK_FAILED')
        },
      )
      .then(
        (text) => {
          if (p.settled) return
          this.finish(p)
          p.resolve(JSON.parse(text))
        },
        (err: unknown) => {
          if (p.settled) return
          this.finish(p)
          p.reject(err)
        },
      )
  }

  private finish(p: PendingRequest): void {
    p.settled = true
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer)
    this.pending.delete(p)
    const q = this.waiting.get(p.request.to)
    const i = q ? q.indexOf(p) : -1
    if (q && i >= 0) q.splice(i, 1)
  }

  private queue(agent: string): PendingRequest[] {
    let q = this.waiting.get(agent)
    if (!q) this.waiting.set(agent, (q = []))
    return q
  }
}
