import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { RunEvent } from '../core/events.js'
import type { ServerEnv } from './server-deps.js'

/** How often the store is read for new events, and how often a keep-alive comment goes out when none came. */
export const LIVE_POLL_MS = 200
export const KEEP_ALIVE_MS = 15_000
const PAGE = 200

/** One page of the store's global event log (see `Client.tailEvents`). */
export interface EventPage {
  events: readonly { position: string; seq: number; event: RunEvent }[]
  next: string
}

/** Reads the event log from a position (the client's `tailEvents`). */
export type TailEvents = (options: { after?: string; limit?: number; runId?: string }) => Promise<EventPage>

/**
 * Streams stored run events as server-sent events: `id` is the event's
 * position in the store's log (send it back as `Last-Event-ID` to resume
 * after a disconnect), `event` its type, `data` the event as JSON. Only the
 * events of runs the key may read are sent. Each write waits for the client,
 * so a slow client holds at most one page in the server's memory.
 */
export function streamEvents(
  c: Context<ServerEnv>,
  tail: TailEvents,
  options: { runId?: string; stopWhenFinal?: boolean },
): Response {
  const principal = c.get('principal')
  const { clock } = c.get('deps')
  const startAt = c.req.header('last-event-id') ?? c.req.query('after')
  return streamSSE(c, async (stream) => {
    let after = startAt === undefined || startAt === '' ? undefined : startAt
    let quietSince = clock.now()
    let open = true
    stream.onAbort(() => {
      open = false
    })
    while (open && !stream.aborted) {
      const page = await tail({
        ...(after === undefined ? {} : { after }),
        limit: PAGE,
        ...(options.runId === undefined ? {} : { runId: options.runId }),
      })
      let finished = false
      for (const { position, event } of page.events) {
        if (principal !== undefined && !principal.permissions.allows(`run:${event.runId}`, 'read')) continue
        await stream.writeSSE({ id: position, event: event.type, data: JSON.stringify(event) })
        if (
          options.stopWhenFinal === true &&
          (event.type === 'run.succeeded' || event.type === 'run.failed' || event.type === 'run.cancelled')
        )
          finished = true
      }
      after = page.next
      if (finished) return
      if (page.events.length > 0) quietSince = clock.now()
      else if (clock.now() - quietSince >= KEEP_ALIVE_MS) {
        await stream.write(': keep-alive\n\n')
        quietSince = clock.now()
      }
      if (page.events.length < PAGE) await stream.sleep(LIVE_POLL_MS)
    }
  })
}
