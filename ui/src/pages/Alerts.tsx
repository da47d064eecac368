import { clock } from '../api'
import { linkProps } from '../router'
import { useAlerts } from './alerts-store'

/** Raised alerts as banners above every page. */
export function AlertBanner() {
  const { alerts } = useAlerts()
  const raised = alerts.filter((a) => a.state === 'raised')
  if (raised.length === 0) return null
  return (
    <div className="banners" role="status" data-testid="alert-banners">
      {raised.slice(0, 3).map((a) => (
        <div key={a.id} className={`banner ${a.severity}`} data-alert={a.id}>
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

/** Every alert, raised first, kept up to date by the live stream. */
export function AlertsPage() {
  const { alerts, available } = useAlerts()
  return (
    <section>
      <h1>Alerts</h1>
      {!available && <p className="hint">This server has no alerts API.</p>}
      {available && alerts.length === 0 && <p className="hint">No alerts.</p>}
      {alerts.length > 0 && (
        <table className="grid" data-testid="alerts">
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
            {alerts.map((a) => (
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
