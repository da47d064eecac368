/**
 * The notifications PostgreSQL bus instances send one another on the schema's
 * channel (NOTIFY payloads, JSON). Each is parsed with zod on arrival: another
 * process, maybe another version, wrote it.
 */
import { z } from 'zod'
import type { SerializedError } from '../../core/errors.js'
import type { BusEvent } from '../bus.js'

/**
 * Bytes a NOTIFY payload may hold here: PostgreSQL refuses 8000 and more;
 * a larger note is stored in `flotilla_bus_payloads` and its id notified.
 */
export const NOTIFY_LIMIT_BYTES = 7_900

/** Mail for `to` (sent, replayed, or freed by an ack). */
export interface MailNote {
  k: 'm'
  to: string
}

/** Mail for some mailbox whose name is too long to notify: every waiter looks. */
export interface AnyMailNote {
  k: 'M'
}

/** A request waits for `to`'s responder in `flotilla_bus_requests`. */
export interface RequestNote {
  k: 'q'
  to: string
}

/** A request waits for some agent whose name is too long to notify: every responder looks. */
export interface AnyRequestNote {
  k: 'Q'
}

/** An event published by instance `src`. */
export interface EventNote {
  k: 'e'
  src: string
  evt: BusEvent
}

/** The reply to request `id` of instance `dst`: a value or an error. */
export type ReplyNote =
  | { k: 'r'; dst: string; id: string; ok: true; v: unknown }
  | { k: 'r'; dst: string; id: string; ok: false; e: SerializedError }

/** A note too large for NOTIFY: fetch its text from `flotilla_bus_payloads` by `ref`. */
export interface StoredNote {
  k: 'x'
  ref: string
  /** The publisher, when its own instance should skip it. */
  src?: string
  /** The only instance that needs it (a reply). */
  dst?: string
}

/** Every note. */
export type Note = MailNote | AnyMailNote | RequestNote | AnyRequestNote | EventNote | ReplyNote | StoredNote

const name = z.string().min(1)
const noteSchema = z.discriminatedUnion('k', [
  z.object({ k: z.literal('m'), to: name }),
  z.object({ k: z.literal('M') }),
  z.object({ k: z.literal('q'), to: name }),
  z.object({ k: z.literal('Q') }),
  z.object({
    k: z.literal('e'),
    src: name,
    evt: z.object({ id: name, type: name, from: name, data: z.unknown(), publishedAt: z.number() }),
  }),
  z
    .object({
      k: z.literal('r'),
      dst: name,
      id: name,
      ok: z.boolean(),
      v: z.unknown().optional(),
      e: z
        .object({
          code: z.string(),
          message: z.string(),
          details: z.record(z.string(), z.unknown()),
          retryable: z.boolean(),
        })
        .optional(),
    })
    .refine((r) => r.ok || r.e !== undefined, 'a failed reply carries its error'),
  z.object({ k: z.literal('x'), ref: name, src: name.optional(), dst: name.optional() }),
])

/** Reads a note, or `undefined` for text that is not one (ignored). */
export function parseNote(text: string): Note | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  const parsed = noteSchema.safeParse(value)
  return parsed.success ? (parsed.data as Note) : undefined
}

/** Whether `text` fits a NOTIFY payload (cheaply when it is clearly small). */
export function fitsNotify(text: string): boolean {
  return text.length * 3 <= NOTIFY_LIMIT_BYTES || Buffer.byteLength(text, 'utf8') <= NOTIFY_LIMIT_BYTES
}

/** The mail note of `to`, or the catch-all when the name is too long for NOTIFY. */
export function mailNote(to: string): string {
  const text = JSON.stringify({ k: 'm', to } satisfies MailNote)
  return fitsNotify(text) ? text : JSON.stringify({ k: 'M' } satisfies AnyMailNote)
}

/** The request note of `to`, or the catch-all when the name is too long for NOTIFY. */
export function requestNote(to: string): string {
  const text = JSON.stringify({ k: 'q', to } satisfies RequestNote)
  return fitsNotify(text) ? text : JSON.stringify({ k: 'Q' } satisfies AnyRequestNote)
}
