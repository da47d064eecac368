import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { RunEvent } from '../core/events.js'
import type { ServerEnv } from './server-deps.js'

/** How often the store is read for new events, and how often a keep-alive comment goes out when none came. */
export const LIVE_POLL_MS = 200
export const KEEP_ALIVE_MS = 15_000
const PAGE = 200
/** How long a page that reached the end of the log is shared by the streams that ask for it (≤ this much later). */
const TAIL_SHARE_MS = 100
/** How long a full page (more events follow it) is shared: a replay read by many clients is read and encoded once. */
const FULL_SHARE_MS = 10_000
/** Pages kept at most; the oldest go first. */
const MAX_PAGES = 256

/** One page of the store's global event log (see `Client.tailEvents`). */
export interface EventPage {
  events: readonly { position: string; seq: number; event: RunEvent }[]
  next: string
}

/** Reads the event log from a position (the client's `tailEvents`). */
export type TailEvents = (options: { after?: string; limit?: number; runId?: string }) => Promise<EventPage>

/** A page of the log as it is sent: each event's server-sent-event frame, encoded once for every stream. */
export interface SentPage {
  frames: readonly { runId: string; final: boolean; bytes: Uint8Array }[]
  /** Every frame of the page, joined. */
  all: Uint8Array
  next: string
}

const encoder = new TextEncoder()
const FINAL = new Set(['run.succeeded', 'run.failed', 'run.cancelled'])

/**
 * The live streams of one server: the pages of the event log they read,
 * shared. Streams at the same position (a hundred dashboards following one
 * run) read the store once per page, and each event is serialised and
 * encoded once, not once per stream. A page that reached the end of the log
 * is reused for at most {@link TAIL_SHARE_MS} (a stream may see an event that
 * much later), a full page for longer; reusing a page is the same as having
 * read it a moment earlier, so every stream still sees every event once.
 */
export class LiveFeed {
  private readonly pages = new Map<string, { until: number; page: Promise<SentPage> }>()

  /** `now`: a monotonic clock in ms (real time even under a test clock: the sharing is about real reads). */
  constructor(
    private readonly tail: TailEvents,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The page after `after` (of run `runId`, or of every run). */
  read(after: string | undefined, runId: string | undefined): Promise<SentPage> {
    const key = `${runId ?? '*'}\u0000${after ?? ''}`
    const now = this.now()
    const hit = this.pages.get(key)
    if (hit !== undefined && hit.until > now) return hit.page
    const entry = { until: now + TAIL_SHARE_MS, page: this.load(after, runId) }
    this.pages.delete(key)
    this.pages.set(key, entry)
    entry.page.then(
      (p) => {
        if (p.frames.length >= PAGE) entry.until = this.now() + FULL_SHARE_MS
      },
      () => this.pages.delete(key),
    )
    if (this.pages.size > MAX_PAGES) {
      for (const [k, v] of this.pages) if (v.until <= now) this.pages.delete(k)
      for (const k of this.pages.keys()) {
        if (this.pages.size <= MAX_PAGES) break
        this.pages.delete(k)
      }
    }
    return entry.page
  }

  private async load(after: string | undefined, runId: string | undefined): Promise<SentPage> {
    const page = await this.tail({
      ...(after === undefined ? {} : { after }),
      limit: PAGE,
      ...(runId === undefined ? {} : { runId }),
    })
    const texts: string[] = []
    const frames = page.events.map(({ position, event }) => {
      // As hono's writeSSE formats it; JSON has no line breaks, a position none either.
      const text = `event: ${event.type}\ndata: ${JSON.stringify(event)}\nid: ${position}\n\n`
      texts.push(text)
      return { runId: event.runId, final: FINAL.has(event.type), bytes: encoder.encode(text) }
    })
    return { frames, all: encoder.encode(texts.join('')), next: page.next }
  }
}

const feeds = new WeakMap<object, LiveFeed>()

/** The {@link LiveFeed} of a source of events (one per server's client), made on first use. */
export function liveFeed(source: object, tail: TailEvents): LiveFeed {
  let feed = feeds.get(source)
  if (feed === undefined) feeds.set(source, (feed = new LiveFeed(tail)))
  return feed
}

/**
 * Streams stored run events as server-sent events: `id` is the event's
 * position in the store's log (send it back as `Last-Event-ID` to resume
 * after a disconnect), `event` its type, `data` the event as JSON. Only the
 * events of runs the key may read are sent. Each write waits for the client,
 * so a slow client holds at most one page in the server's memory.
 */
export function streamEvents(
  c: Context<ServerEnv>,
  feed: LiveFeed,
  options: { runId?: string; stopWhenFinal?: boolean },
): Response {
  const principal = c.get('principal')
  const { clock } = c.get('deps')
  const startAt = c.req.header('last-event-id') ?? c.req.query('after')
  const readable = new Map<string, boolean>()
  const allows = (runId: string): boolean => {
    if (principal === undefined) return true
    let ok = readable.get(runId)
    if (ok === undefined) readable.set(runId, (ok = principal.permissions.allows(`run:${runId}`, 'read')))
    return ok
  }
  return streamSSE(c, async (stream) => {
    let after = startAt === undefined || startAt === '' ? undefined : startAt
    let quietSince = clock.now()
    let open = true
    stream.onAbort(() => {
      open = false
    })
    while (open && !stream.aborted) {
      const page = await feed.read(after, options.runId)
      const sent = page.frames.filter((f) => allows(f.runId))
      if (sent.length === page.frames.length) {
        if (sent.length > 0) await stream.write(page.all)
      } else for (const f of sent) await stream.write(f.bytes)
      after = page.next
      if (options.stopWhenFinal === true && sent.some((f) => f.final)) return
      if (page.frames.length > 0) quietSince = clock.now()
      else if (clock.now() - quietSince >= KEEP_ALIVE_MS) {
        await stream.write(': keep-alive\n\n')
        quietSince = clock.now()
      }
      if (page.frames.length < PAGE) await stream.sleep(LIVE_POLL_MS)
    }
  })
}
