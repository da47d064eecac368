import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { FlotillaError } from '../core/errors.js'
import type { TeamEvent } from '../core/events.js'
import type { KeyPrincipal } from '../security/api-keys.js'
import { KEEP_ALIVE_MS, LIVE_POLL_MS } from './live-events.js'
import type { ServerEnv } from './server-deps.js'

/** Most agent events waiting for one slow client; older ones are dropped (and counted in a `stream.gap` event). */
export const MAX_PENDING_EVENTS = 1000
const AUDIT_PAGE = 200

/** True when the key may read the agent an event is about (by name or, for a deployed agent, by id). */
function visible(principal: KeyPrincipal | undefined, e: TeamEvent): boolean {
  if (principal === undefined) return true
  if (e.type === 'alert.raised' || e.type === 'alert.resolved') return principal.permissions.allows('run:*', 'read')
  const name = 'name' in e ? e.name : e.agent
  const id = 'agentId' in e ? e.agentId : undefined
  return (
    (name !== undefined && principal.permissions.allows(`agent:${name}`, 'read')) ||
    (id !== undefined && principal.permissions.allows(`agent:${id}`, 'read'))
  )
}

/**
 * Streams the agent events of the agents this server governs (or the
 * events `subscribe` gives: the alerts)
 * (`agent.state`, `agent.reported`, `permission.denied`, as they happen) as
 * server-sent events: `event` the type, `data` the event as JSON. They are
 * not stored, so the stream is live only (no `id`, no resume). Events wait
 * in a queue of at most {@link MAX_PENDING_EVENTS} per client: past that the
 * oldest are dropped, and a `stream.gap` event (`{ dropped }`) says how many.
 */
export function streamAgentEvents(
  c: Context<ServerEnv>,
  subscribe: ((listener: (event: TeamEvent) => void) => () => void) | undefined = c.get('deps').agents?.onEvent,
): Response {
  const principal = c.get('principal')
  return streamSSE(c, async (stream) => {
    const queue: TeamEvent[] = []
    let dropped = 0
    let wake: (() => void) | undefined
    const stop = subscribe?.((e) => {
      if (!visible(principal, e)) return
      if (queue.length >= MAX_PENDING_EVENTS) {
        queue.shift()
        dropped++
      }
      queue.push(e)
      wake?.()
    })
    stream.onAbort(() => wake?.())
    try {
      await stream.write(': agent events\n\n')
      while (!stream.aborted) {
        if (dropped > 0) {
          const n = dropped
          dropped = 0
          await stream.writeSSE({ event: 'stream.gap', data: JSON.stringify({ dropped: n }) })
        }
        const e = queue.shift()
        if (e !== undefined) {
          await stream.writeSSE({ event: e.type, data: JSON.stringify(e) })
          continue
        }
        const woken = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), KEEP_ALIVE_MS)
          timer.unref()
          wake = () => {
            clearTimeout(timer)
            resolve(true)
          }
        })
        wake = undefined
        if (!woken && !stream.aborted) await stream.write(': keep-alive\n\n')
      }
    } finally {
      stop?.()
    }
  })
}

/**
 * Streams the audit log as server-sent events, from its first entry (or
 * after a position) and then live: `id` the
 * entry's `seq` (send it back as `Last-Event-ID`, or `?after=`, to resume
 * after a disconnect), `event` `audit`, `data` the entry. Resumable because
 * the log is stored with one sequence per store. Each write waits for the
 * client, so a slow client holds at most one page in memory.
 */
export function streamAuditEvents(c: Context<ServerEnv>): Response {
  const { audit, clock } = c.get('deps')
  const given = c.req.header('last-event-id') ?? c.req.query('after')
  if (given !== undefined && given !== '' && !/^\d{1,15}$/.test(given))
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `The position to resume after is an audit seq (a whole number); got "${given.slice(0, 40)}".`,
      {
        details: { field: 'after' },
      },
    )
  const start = given !== undefined && given !== '' ? Number(given) : undefined
  return streamSSE(c, async (stream) => {
    let after = start ?? 0
    let quietSince = clock.now()
    while (!stream.aborted) {
      const page = await audit.query({ afterSeq: after, limit: AUDIT_PAGE })
      for (const entry of page) {
        await stream.writeSSE({ id: String(entry.seq), event: 'audit', data: JSON.stringify(entry) })
        after = entry.seq
      }
      if (page.length > 0) quietSince = clock.now()
      else if (clock.now() - quietSince >= KEEP_ALIVE_MS) {
        await stream.write(': keep-alive\n\n')
        quietSince = clock.now()
      }
      if (page.length < AUDIT_PAGE) await stream.sleep(LIVE_POLL_MS)
    }
  })
}
