import { randomUUID } from 'node:crypto'
import type { Clock } from '../../core/clock.js'
import type { BusEvent } from '../bus.js'
import type { EventRouter } from '../event-router.js'
import type { MailWaiters } from '../mail-waiters.js'
import type { Db } from './db.js'
import { fitsNotify, parseNote } from './notes.js'
import type { PgRequests } from './requests.js'
import type { Statements } from './schema.js'

/** How long a note stored in `flotilla_bus_payloads` (over the NOTIFY limit) is kept for the listeners to read. */
const PAYLOAD_RETENTION_MS = 5 * 60_000

/** What {@link BusNotes} needs from the bus. */
export interface BusNotesDeps {
  readonly db: Db
  readonly sql: Statements
  readonly clock: Clock
  /** This bus instance's id (`src` of its notes, `dst` of the replies to it). */
  readonly instance: string
  readonly channel: string
  readonly router: EventRouter
  readonly waiters: MailWaiters
  readonly requests: PgRequests
  /** Whether the bus was closed (a note that arrives after is ignored). */
  isClosed(): boolean
}

/**
 * The notes of the PostgreSQL bus on its LISTEN/NOTIFY channel: sends them
 * (NOTIFY, or, over the NOTIFY limit, stored and their id notified), and
 * delivers those the listener hands over to this process's event
 * subscribers, mail waiters and requests.
 */
export class BusNotes {
  constructor(private readonly d: BusNotesDeps) {}

  /** NOTIFYs `text`, or stores it and notifies its id when it is over the NOTIFY limit. */
  async send(text: string, route: { src?: string; dst?: string }): Promise<void> {
    const d = this.d
    if (fitsNotify(text)) {
      await d.db.rows(d.sql.notify, [d.channel, text])
      return
    }
    const ref = `pl_${randomUUID()}`
    const now = d.clock.wallNow()
    await d.db.rows(d.sql.notifyStored, [
      d.channel,
      JSON.stringify({ k: 'x', ref, ...route }),
      ref,
      text,
      now,
      now - PAYLOAD_RETENTION_MS,
    ])
  }

  /** Delivers one note the listener received (a stored one is read first, and dropped when it was addressed here). */
  async receive(payload: string): Promise<void> {
    const d = this.d
    if (d.isClosed()) return
    if (payload.startsWith('{"k":"e"') && d.router.isEmpty()) return // nobody here listens to events
    const note = parseNote(payload)
    if (note === undefined) return
    switch (note.k) {
      case 'm':
        return d.waiters.wake(note.to)
      case 'M':
        return d.waiters.wakeAll()
      case 'q':
        return d.requests.noticed(note.to)
      case 'Q':
        return d.requests.noticed(undefined)
      case 'e':
        if (note.src !== d.instance && d.router.has(note.evt.type)) d.router.dispatch(note.evt as BusEvent)
        return
      case 'r':
        if (note.dst === d.instance) d.requests.replied(note)
        return
      case 'x': {
        if (note.src === d.instance || (note.dst !== undefined && note.dst !== d.instance)) return
        const [row] = await d.db.rows<{ body: string }>(d.sql.payload, [note.ref])
        if (note.dst !== undefined) await d.db.quietly(d.sql.dropPayload, [note.ref])
        if (row !== undefined && parseNote(row.body)?.k !== 'x') await this.receive(row.body)
        return
      }
    }
  }
}
