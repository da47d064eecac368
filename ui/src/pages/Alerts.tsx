import { useEffect, useState } from 'react'
import { ApiError, clock, get } from '../api'
import { linkProps } from '../router'
import type { Alert } from '../types'

/** Alerts from `GET /api/v1/alerts`, read every 15 s; a server without alerts (404) has none. */
function useAlerts(): { alerts: Alert[]; available: boolean } {
  const [state, setState] = useState<{ alerts: Alert[]; available: boolean }>({ alerts: [], available: true })
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const load = async (): Promise<void> => {
      let every = 15_000
      try {
        const r = await get<{ alerts: Alert[] }>('/alerts')
        if (live) setState({ alerts: r.alerts, available: true })
      } catch (e) {
        if (live && e instanceof ApiError && (e.status === 404 || e.status === 403)) {
          setState({ alerts: [], available: false })
          every = e.status === 403 ? 0 : 60_000 // a refusal is not asked again (denials count toward a block)
        }
      }
      if (live && every > 0) timer = setTimeout(() => void load(), every)
    }
    void load()
    return () => {
      live = false
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [])
  return state
}

/** Raised alerts as banners above every page. */
export function AlertBanner() {
  const { alerts } = useAlerts()
  const raised = alerts.filter((a) => a.state === 'raised')
  if (raised.length === 0) return null
  return (
    <div className="banners" role="status">
      {raised.slice(0, 3).map((a) => (
        <div key={a.id} className={`banner ${a.severity}`}>
          <b>{a.severity}</b> {a.message}
        </div>
      ))}
      {raised.length > 3 && (
        <a {...linkProps('/alerts')}>
          {raised.length - 3} more alert{raised.length > 4 ? 's' : ''}
        </a>
      )}
    </div>
  )
}

/** Every alert, raised first. */
export function AlertsPage() {
  const { alerts, available } = useAlerts()
  const sorted = [...alerts].sort((a, b) =>
    a.state === b.state ? b.raisedAt - a.raisedAt : a.state === 'raised' ? -1 : 1,
  )
  return (
    <section>
      <h1>Alerts</h1>
      {!available && <p className="hint">This server has no alerts API.</p>}
      {available && sorted.length === 0 && <p className="hint">No alerts.</p>}
      {sorted.length > 0 && (
        <table className="grid">
          <thead>
            <tr>
              <th>State</th>
              <th>Severity</th>
              <th>Rule</th>
              <th>Subject</th>
              <th>Message</th>
              <th>Value / threshold</th>
              <th>Raised</th>
              <th>Resolved</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((a) => (
              <tr key={a.id} className={a.state}>
                <td>{a.state}</td>
                <td>{a.severity}</td>
                <td>{a.rule}</td>
                <td>
                  {a.subject.run !== undefined ? (
                    <a {...linkProps(`/runs/${encodeURIComponent(a.subject.run)}`)}>{a.subject.run}</a>
                  ) : (
                    (a.subject.agent ?? '—')
                  )}
                </td>
                <td>{a.message}</td>
                <td>
                  {a.value} / {a.threshold}
                </td>
                <td>{clock(a.raisedAt)}</td>
                <td>{clock(a.resolvedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}
