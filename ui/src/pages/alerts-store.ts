import { useSyncExternalStore } from 'react'
import { ApiError, followEvents, get } from '../api'
import type { Alert } from '../types'

/** What the dashboard knows of the alerts: the list, and whether this server (and key) has them. */
export interface AlertsState {
  alerts: Alert[]
  available: boolean
}

/** Keeps this many resolved alerts (the server keeps the latest 500). */
const KEEP_RESOLVED = 200

let state: AlertsState = { alerts: [], available: true }
const listeners = new Set<() => void>()
let stop: (() => void) | undefined
/** The server has no alerts (404) or the key may not read them (403): not asked again while signed in. */
let refused = false

function set(next: AlertsState): void {
  state = next
  for (const l of listeners) l()
}

/** Raised first (newest first), then resolved (newest first). */
function ordered(byId: ReadonlyMap<string, Alert>): Alert[] {
  const all = [...byId.values()]
  const raised = all.filter((a) => a.state === 'raised').sort((a, b) => b.raisedAt - a.raisedAt)
  const resolved = all
    .filter((a) => a.state === 'resolved')
    .sort((a, b) => (b.resolvedAt ?? 0) - (a.resolvedAt ?? 0))
    .slice(0, KEEP_RESOLVED)
  return [...raised, ...resolved]
}

/** Merges alerts into the list: a resolved alert stays resolved (events may arrive before the list they race with). */
function merge(incoming: readonly Alert[]): void {
  const byId = new Map(state.alerts.map((a) => [a.id, a]))
  for (const a of incoming) {
    const known = byId.get(a.id)
    if (known?.state === 'resolved' && a.state === 'raised') continue
    byId.set(a.id, a)
  }
  set({ alerts: ordered(byId), available: true })
}

/**
 * Follows the alerts while anyone looks: the live stream
 * (`GET /events/alerts`: `alert.raised` and `alert.resolved` as they
 * happen, no polling), and the list (`GET /alerts`) read each time the
 * stream connects (it is not resumable: what happened before, or during a
 * drop, comes from the list). A server
 * without alerts (404) or a key that may not read them (403) has none, and
 * is not asked again.
 */
function start(): () => void {
  const ctl = new AbortController()
  const load = async (): Promise<void> => {
    try {
      const r = await get<{ alerts: Alert[] }>('/alerts', ctl.signal)
      if (!ctl.signal.aborted) merge(r.alerts)
    } catch (e) {
      if (!ctl.signal.aborted && e instanceof ApiError && (e.status === 404 || e.status === 403)) {
        refused = true
        set({ alerts: [], available: false })
        ctl.abort() // a refusal is not asked again (denials count toward a block)
      }
    }
  }
  followEvents(
    '/events/alerts',
    (m) => {
      if (m.event !== 'alert.raised' && m.event !== 'alert.resolved') return
      try {
        merge([(JSON.parse(m.data) as { alert: Alert }).alert])
      } catch {
        // not an alert event
      }
    },
    {
      signal: ctl.signal,
      // Connected (again): what happened before, or during a drop, comes from the list.
      onOpen: () => void load(),
      onError: (e) => {
        if (e instanceof ApiError && (e.status === 404 || e.status === 403)) {
          refused = true
          set({ alerts: [], available: false })
          ctl.abort()
        }
      },
    },
  )
  return () => {
    ctl.abort()
  }
}

/**
 * Follows the alerts while a component reads them and the tab is visible: a
 * hidden tab lets its stream go (browsers allow few connections per server,
 * shared by the tabs) and reads the list again when it is shown.
 */
function follow(): void {
  const wanted = listeners.size > 0 && !refused && document.visibilityState !== 'hidden'
  if (wanted && stop === undefined) stop = start()
  else if (!wanted && stop !== undefined) {
    stop()
    stop = undefined
  }
}
document.addEventListener('visibilitychange', follow)

function subscribe(listener: () => void): () => void {
  listeners.add(listener)
  follow()
  return () => {
    listeners.delete(listener)
    follow()
    if (listeners.size === 0) {
      state = { alerts: [], available: true }
      refused = false
    }
  }
}

/** The alerts, live: one stream for the whole page however many components read them. */
export function useAlerts(): AlertsState {
  return useSyncExternalStore(subscribe, () => state)
}
