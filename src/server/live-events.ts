import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { RunEvent } from '../core/events.js'
import { MemoryStore } from '../store/memory/memory-store.js'
import type { Store } from '../store/store.js'
import type { ServerEnv } from './server-deps.js'

/**
 * How often the store is read for new events when no wake-up came (events
 * committed by another process, or a store that cannot tell), and how often
 * a keep-alive comment goes out when none came.
 */
export const LIVE_POLL_MS = 200
export const KEEP_ALIVE_MS = 15_000
/**
 * How long after a commit the waiting streams are woken: the commits of a
 * burst within it cost each stream one read and one write, not one per commit.
 */
export const LIVE_WAKE_MS = 25
const PAGE = 200
/** How long a page that reached the end of the log is shared by the streams that ask for it (≤ this much later). */
const TAIL_SHARE_MS = 100
/** How long a full page (more events follow it) is shared: a replay read by many clients is read and encoded once. */
const FULL_SHARE_MS = 10_000
/** Pages kept at most; the oldest go first. */
const MAX_PAGES = 256

/**
 * Subscribes `wake` to "events were committed" (by this process); returns
 * the function that unsubscribes it. `wake` may be called synchronously
 * from inside a commit, many times in a burst: it only has to be cheap.
 */
export type CommitWake = (wake: () => void) => () => void

/** How the live streams of a server learn of new events. */
export interface LiveOptions {
  /** Wake-ups on commits in this process (see {@link commitWake}); without it, the streams poll only. */
  readonly wake?: CommitWake
  /** The poll interval: how late an event committed elsewhere may arrive. @default {@link LIVE_POLL_MS} */
  readonly pollMs?: number
  /** How long after a commit the streams wake (commits within it share one read). @default {@link LIVE_WAKE_MS} */
  readonly wakeMs?: number
}

const noEnd = (): void => undefined

/**
 * The commit wake-ups of a store: its commit hooks (SQLite, PostgreSQL: the
 * commits and queue results of this process, once they are durable), or the
 * memory store's appends; `undefined` for a store that has neither (the
 * streams poll). Commits by other processes are not seen: the poll finds them.
 */
export function commitWake(store: Store): CommitWake | undefined {
  if (store instanceof MemoryStore) return (wake) => store.onAppend(wake)
  const hooks = store.commits
  if (hooks === undefined) return undefined
  return (wake) =>
    hooks.add((commit) =>
      commit.events === 0
        ? noEnd
        : (error) => {
            if (error === undefined) wake()
          },
    )
}

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
 *
 * A commit in this process (see {@link LiveOptions.wake}) wakes the waiting
 * streams {@link LIVE_WAKE_MS} later and retires the shared end-of-log pages
 * read before the wake-up; the commits within that time share it. A stream
 * has one read in flight at most; a wake-up during its read causes one more
 * read (of the page the woken streams share).
 */
export class LiveFeed {
  private readonly pages = new Map<string, { until: number; gen: number; full: boolean; page: Promise<SentPage> }>()
  /** Counts the wake-ups: a page read in one includes every commit seen before it. */
  private woken = 0
  /** The wake-up due after a commit ({@link LIVE_WAKE_MS}), if any. */
  private wakeTimer: ReturnType<typeof setTimeout> | undefined
  private waiters: (() => void)[] = []
  private streams = 0
  private unsubscribe: (() => void) | undefined
  private readonly onCommit = (): void => {
    this.wakeTimer ??= setTimeout(this.wakeAll, this.live.wakeMs ?? LIVE_WAKE_MS)
  }
  private readonly wakeAll = (): void => {
    this.wakeTimer = undefined
    this.woken++
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /** The poll interval in ms (see {@link LiveOptions.pollMs}). */
  readonly pollMs: number

  /** `now`: a monotonic clock in ms (real time even under a test clock: the sharing is about real reads). */
  constructor(
    private readonly tail: TailEvents,
    private readonly now: () => number = () => performance.now(),
    private readonly live: LiveOptions = {},
  ) {
    this.pollMs = live.pollMs ?? LIVE_POLL_MS
  }

  /** The current wake-up count: pass it to {@link LiveFeed.wait} after a read begun after taking it. */
  get generation(): number {
    return this.woken
  }

  /** A stream starts: listen to commits while any stream is open. Call {@link LiveFeed.close} when it ends. */
  open(): void {
    if (this.streams++ === 0 && this.live.wake !== undefined) this.unsubscribe = this.live.wake(this.onCommit)
  }

  /** A stream ended. */
  close(): void {
    if (--this.streams > 0) return
    this.unsubscribe?.()
    this.unsubscribe = undefined
    if (this.wakeTimer !== undefined) this.wakeAll()
  }

  /**
   * Resolves at once when the streams were woken since `generation` (a
   * commit during the caller's read), else on the next wake-up (at most
   * {@link LIVE_WAKE_MS} after a commit), after {@link LiveFeed.pollMs}, or
   * when `signal` aborts.
   */
  wait(generation: number, signal: AbortSignal): Promise<void> {
    if (this.woken > generation || signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done)
        done()
      }, this.pollMs)
      signal.addEventListener('abort', done, { once: true })
      this.waiters.push(done)
    })
  }

  /** The page after `after` (of run `runId`, or of every run). */
  read(after: string | undefined, runId: string | undefined): Promise<SentPage> {
    const key = `${runId ?? '*'}\u0000${after ?? ''}`
    const now = this.now()
    const hit = this.pages.get(key)
    if (hit !== undefined && hit.until > now && (hit.full || hit.gen === this.woken)) return hit.page
    const entry = { until: now + TAIL_SHARE_MS, gen: this.woken, full: false, page: this.load(after, runId) }
    this.pages.delete(key)
    this.pages.set(key, entry)
    entry.page.then(
      (p) => {
        if (p.frames.length < PAGE) return
        entry.full = true
        entry.until = this.now() + FULL_SHARE_MS
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

/** The {@link LiveFeed} of a source of events (one per server's client), made on first use with `live`. */
export function liveFeed(source: object, tail: TailEvents, live: LiveOptions = {}): LiveFeed {
  let feed = feeds.get(source)
  if (feed === undefined) feeds.set(source, (feed = new LiveFeed(tail, undefined, live)))
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
    const aborted = new AbortController()
    stream.onAbort(() => aborted.abort())
    feed.open()
    try {
      while (!aborted.signal.aborted && !stream.aborted) {
        const generation = feed.generation
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
        if (page.frames.length < PAGE) await feed.wait(generation, aborted.signal)
      }
    } finally {
      feed.close()
    }
  })
}
