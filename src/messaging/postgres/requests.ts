import { MESSAGE_BODY, MESSAGE_HEADERS } from './columns.js'
import { randomUUID } from 'node:crypto'
import type { Clock, TimerHandle } from '../../core/clock.js'
import { deserializeError, FlotillaError, serializeError, toFlotillaError } from '../../core/errors.js'
import type { BusMessage, MessageHeaders, RequestHandler, Subscription } from '../bus.js'
import { serializePayload } from '../validate.js'
import type { Db } from './db.js'
import { requestNote, type ReplyNote } from './notes.js'
import type { Statements } from './schema.js'

/** What {@link PgRequests} needs from the bus. */
export interface PgRequestsDeps {
  readonly db: Db
  readonly sql: Statements
  readonly clock: Clock
  /** This bus instance's id: replies to its requests carry it as `dst`. */
  readonly instance: string
  readonly channel: string
  readonly maxBytes: number
  /** Sends a note to instance `dst` (through the payload table when too large). */
  sendNote(text: string, route: { dst: string }): Promise<void>
  /** Reports a failure no caller waits for (a claim that failed, a reply that could not be sent). */
  onError(error: unknown): void
}

/** A request of this instance, already validated by the bus. */
export interface PgRequestInput {
  from: string
  to: string
  /** The JSON text of the body. */
  text: string
  headers: MessageHeaders
  timeoutMs: number
}

interface Pending {
  readonly id: string
  readonly to: string
  readonly resolve: (reply: unknown) => void
  readonly reject: (error: unknown) => void
  timer: TimerHandle | undefined
  /** Settles when the request row is written (or failed to be). */
  stored: Promise<boolean> | undefined
  settled: boolean
}

interface RequestRow {
  id: string
  requester: string
  sender: string
  body: string
  headers: string
  sent_at: number
  expires_at: number
}

const CLAIM_BATCH = 100

/**
 * Request/reply across processes. A request to an agent whose responder is
 * registered on this instance is answered in process; otherwise it is stored
 * in `flotilla_bus_requests` and notified. An instance with a responder for
 * that agent claims it (`DELETE … FOR UPDATE SKIP LOCKED`, so exactly one
 * answers), runs the handler, and NOTIFYs the reply to the requesting
 * instance. Timeouts run on the requester's clock; a timed-out request's row
 * is deleted, and a responder skips rows whose deadline passed.
 */
export class PgRequests {
  private readonly pending = new Map<string, Pending>()
  private readonly responders = new Map<string, RequestHandler>()
  private readonly draining = new Set<string>()
  private readonly again = new Set<string>()

  constructor(private readonly deps: PgRequestsDeps) {}

  /** Sends a request; resolves with the reply, or fails with `TASK_TIMEOUT`, the responder's error, or `TASK_CANCELLED` on close. */
  request(input: PgRequestInput): Promise<unknown> {
    const { clock, db, sql, instance, channel } = this.deps
    const id = `req_${randomUUID()}`
    const sentAt = clock.wallNow()
    return new Promise<unknown>((resolve, reject) => {
      const p: Pending = { id, to: input.to, resolve, reject, timer: undefined, stored: undefined, settled: false }
      p.timer = clock.setTimeout(() => {
        if (!this.finish(p)) return
        reject(
          new FlotillaError('TASK_TIMEOUT', `No reply from "${input.to}" within ${input.timeoutMs} ms.`, {
            details: { to: input.to, timeoutMs: input.timeoutMs, requestId: id },
          }),
        )
        this.unstore(p)
      }, input.timeoutMs)
      this.pending.set(id, p)
      const local = this.responders.get(input.to)
      if (local !== undefined) {
        const request: BusMessage = {
          id,
          from: input.from,
          to: input.to,
          body: JSON.parse(input.text),
          headers: input.headers,
          attempt: 1,
          sentAt,
        }
        this.answer(local, request, instance)
        return
      }
      const values = [
        id,
        instance,
        input.from,
        input.to,
        input.text,
        JSON.stringify(input.headers),
        sentAt,
        sentAt + input.timeoutMs,
        channel,
        requestNote(input.to),
      ]
      p.stored = db.rows(sql.request, values).then(
        () => true,
        (err: unknown) => {
          if (this.finish(p)) reject(err)
          return false
        },
      )
    })
  }

  /** Registers `agent`'s responder on this instance (replacing an earlier one) and answers the requests waiting for it. */
  onRequest(agent: string, handler: RequestHandler): Subscription {
    this.responders.set(agent, handler)
    this.drain(agent)
    return {
      unsubscribe: async () => {
        if (this.responders.get(agent) === handler) this.responders.delete(agent)
      },
    }
  }

  /** A request for `to` (or, with `undefined`, for some agent) was stored: claim it if this instance answers for `to`. */
  noticed(to: string | undefined): void {
    if (to === undefined) for (const agent of this.responders.keys()) this.drain(agent)
    else if (this.responders.has(to)) this.drain(to)
  }

  /** Claims the waiting requests of every local responder (after a gap in notifications). */
  drainAll(): void {
    this.noticed(undefined)
  }

  /** A reply reached this instance. */
  replied(note: ReplyNote): void {
    const p = this.pending.get(note.id)
    if (p === undefined || !this.finish(p)) return
    if (note.ok) p.resolve(note.v)
    else p.reject(deserializeError(note.e))
  }

  /** Fails every pending request with `TASK_CANCELLED`, deletes their rows, forgets the responders. */
  async close(): Promise<void> {
    this.responders.clear()
    const stored: Pending[] = []
    for (const p of [...this.pending.values()]) {
      if (!this.finish(p)) continue
      p.reject(
        new FlotillaError('TASK_CANCELLED', `The bus closed before "${p.to}" replied.`, { details: { to: p.to } }),
      )
      if (p.stored !== undefined) stored.push(p)
    }
    if (stored.length === 0) return
    await Promise.all(stored.map((p) => p.stored))
    await this.deps.db.quietly(this.deps.sql.dropRequests, [stored.map((p) => p.id)])
  }

  private drain(agent: string): void {
    if (this.draining.has(agent)) {
      this.again.add(agent) // the running drain looks once more when it is done
      return
    }
    this.draining.add(agent)
    const loop = async (): Promise<void> => {
      for (;;) {
        this.again.delete(agent)
        const handler = this.responders.get(agent)
        if (handler === undefined) return
        const rows = await this.deps.db.rows<RequestRow>(this.deps.sql.claimRequests, [agent, CLAIM_BATCH])
        const now = this.deps.clock.wallNow()
        for (const r of rows) {
          if (Number(r.expires_at) <= now) continue // the requester gave up: nobody waits for the reply
          const headers = MESSAGE_HEADERS.decodeRequired(r.headers, r.id)
          const request: BusMessage = {
            id: r.id,
            from: r.sender,
            to: agent,
            body: MESSAGE_BODY.decodeRequired(r.body, r.id),
            headers,
            attempt: 1,
            sentAt: Number(r.sent_at),
          }
          this.answer(handler, request, r.requester)
        }
        if (rows.length < CLAIM_BATCH && !this.again.has(agent)) return
      }
    }
    loop()
      .catch((err: unknown) => this.deps.onError(err))
      .finally(() => this.draining.delete(agent))
  }

  /** Runs the handler and delivers the reply (or the error) to the requesting instance. */
  private answer(handler: RequestHandler, request: BusMessage, requester: string): void {
    Promise.resolve()
      .then(() => handler(request))
      .then(
        (reply) => serializePayload(reply === undefined ? null : reply, this.deps.maxBytes, 'reply'),
        (err: unknown) => {
          throw toFlotillaError(err, 'TASK_FAILED')
        },
      )
      .then(
        (text) => this.deliver(requester, request.id, { text }),
        (err: unknown) => this.deliver(requester, request.id, { error: err }),
      )
      .catch((err: unknown) => this.deps.onError(err))
  }

  private async deliver(requester: string, id: string, outcome: { text: string } | { error: unknown }): Promise<void> {
    if (requester === this.deps.instance) {
      const p = this.pending.get(id)
      if (p === undefined || !this.finish(p)) return
      if ('text' in outcome) p.resolve(JSON.parse(outcome.text))
      else p.reject(outcome.error)
      return
    }
    const head = `{"k":"r","dst":${JSON.stringify(requester)},"id":${JSON.stringify(id)}`
    let note: string
    if ('text' in outcome) note = `${head},"ok":true,"v":${outcome.text}}`
    else {
      try {
        note = `${head},"ok":false,"e":${JSON.stringify(serializeError(outcome.error))}}`
      } catch {
        const e = serializeError(
          new FlotillaError('TASK_FAILED', 'The responder failed with an error whose details are not JSON.'),
        )
        note = `${head},"ok":false,"e":${JSON.stringify(e)}}`
      }
    }
    await this.deps.sendNote(note, { dst: requester })
  }

  /** Marks `p` settled; `false` when it already was. */
  private finish(p: Pending): boolean {
    if (p.settled) return false
    p.settled = true
    if (p.timer !== undefined) this.deps.clock.clearTimeout(p.timer)
    this.pending.delete(p.id)
    return true
  }

  /** Deletes the row of a request nobody waits for any more, once it is written. */
  private unstore(p: Pending): void {
    if (p.stored === undefined) return
    void p.stored.then((written) => (written ? this.deps.db.quietly(this.deps.sql.dropRequests, [[p.id]]) : undefined))
  }
}
