import type { FlotillaEvent } from '../core/events.js'
import type { Bus } from '../messaging/bus.js'
import type { Client } from '../orchestrator/client.js'
import { countDeadLetters } from '../orchestrator/dead-letters.js'
import type { AlertSource } from '../telemetry/alerts/monitor.js'
import { errorFields, type Logger } from '../telemetry/telemetry.js'
import type { AgentHost } from './agent-host.js'
import { LIVE_POLL_MS } from './live-events.js'

const PAGE = 1000

/** An {@link AlertSource} over a store: run events as they are committed (by any process), and agent events. */
export interface AlertFeed extends AlertSource {
  close(): Promise<void>
}

/**
 * Feeds a server's alert monitor: the store's event log is read from its end
 * at start (past events raise nothing) every {@link LIVE_POLL_MS}, so runs
 * executed by any worker count; the events of the agents this server
 * governs come as they happen; dead letters are counted for the agents of
 * the live workers' catalog and those governed here.
 */
export function alertFeed(parts: {
  client: Client
  bus: Bus | undefined
  agents?: AgentHost
  logger: Logger
}): AlertFeed {
  const listeners = new Set<(event: FlotillaEvent) => void>()
  const deliver = (e: FlotillaEvent): void => {
    for (const l of listeners) l(e)
  }
  const offAgents = parts.agents?.onEvent(deliver)
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let after: string | undefined
  const poll = async (): Promise<void> => {
    try {
      if (after === undefined) {
        // Skip what was stored before the server started.
        let next = ''
        for (;;) {
          const page = await parts.client.tailEvents({ after: next, limit: PAGE })
          next = page.next
          if (page.events.length < PAGE) break
        }
        after = next
      }
      for (;;) {
        const page = await parts.client.tailEvents({ after, limit: PAGE })
        for (const t of page.events) deliver(t.event)
        after = page.next
        if (page.events.length < PAGE || stopped) break
      }
    } catch (e) {
      parts.logger.warn(errorFields(e), 'reading the event log for the alerts failed; the next poll tries again')
    }
    if (!stopped) (timer = setTimeout(() => void poll(), LIVE_POLL_MS)).unref()
  }
  const started = poll()
  return {
    on: (_type, listener) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    deadLetters: async () => {
      if (parts.bus === undefined) return new Map<string, number>()
      const names = new Set((await parts.client.workers()).flatMap((w) => w.agents.map((a) => a.name)))
      for (const a of (await parts.agents?.agents.list()) ?? []) names.add(a.name)
      return countDeadLetters(parts.bus, [...names])
    },
    close: async () => {
      stopped = true
      clearTimeout(timer)
      offAgents?.()
      await started
    },
  }
}
