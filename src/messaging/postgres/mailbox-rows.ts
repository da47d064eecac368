import type { BusMessage } from '../bus.js'
import { MESSAGE_BODY, MESSAGE_HEADERS } from './columns.js'

/*
 * The rows of the PostgreSQL bus's mailboxes and dead letters as the bus
 * reads them, and the messages they become.
 */

/** A message row of a mailbox (`flotilla_bus_messages`), as `receive` returns it. */
export interface MessageRow {
  id: string
  sender: string
  body: string
  headers: string
  attempt: number
  sent_at: number
}

/** A dead letter row: the message, when and why it died. */
export interface DeadRow extends MessageRow {
  dead_at: number
  reason: string
}

/** The message of a row of `to`'s mailbox (body and headers decoded, numbers as numbers). */
export function toMessage(r: MessageRow, to: string): BusMessage {
  return {
    id: r.id,
    from: r.sender,
    to,
    body: MESSAGE_BODY.decodeRequired(r.body, r.id),
    headers: MESSAGE_HEADERS.decodeRequired(r.headers, r.id),
    attempt: Number(r.attempt),
    sentAt: Number(r.sent_at),
  }
}
