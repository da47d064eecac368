import { useState } from 'react'
import { ApiError, clock, post } from '../api'
import { useAllowed, useApi } from '../hooks'
import './pages.css'

/** A dead letter as `GET /dead-letters` answers it. */
interface DeadLetter {
  id: string
  from: string
  to: string
  body: unknown
  headers: Record<string, string>
  attempt: number
  sentAt: number
  deadAt: number
  reason: string
}

interface DeadLetterPage {
  deadLetters: DeadLetter[]
  nextCursor: string | null
  mailboxes: boolean
}

const PAGE = 50

function preview(body: unknown): string {
  const text = JSON.stringify(body) ?? 'null'
  return text.length > 80 ? `${text.slice(0, 77)}…` : text
}

function Row({ letter, onReplayed }: { letter: DeadLetter; onReplayed: () => void }) {
  // The button is shown only to a key that may send to this agent's mailbox (what the replay needs).
  const allowed = useAllowed(`agent:${letter.to}`, ['send'])
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string>()
  const replay = async (): Promise<void> => {
    setBusy(true)
    try {
      await post(`/agents/${encodeURIComponent(letter.to)}/dead-letters/${encodeURIComponent(letter.id)}/replay`)
      onReplayed()
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e))
      setBusy(false)
    }
  }
  return (
    <tr data-dead-letter={letter.id}>
      <td>{letter.to}</td>
      <td>{letter.from}</td>
      <td>
        <code title={JSON.stringify(letter.body, null, 2)}>{preview(letter.body)}</code>
      </td>
      <td>{letter.attempt}</td>
      <td>{clock(letter.deadAt)}</td>
      <td className="hint">{letter.reason}</td>
      <td>
        {allowed.send === true && (
          <button type="button" disabled={busy} onClick={() => void replay()} aria-label={`Replay ${letter.id}`}>
            Replay
          </button>
        )}
        {error !== undefined && <span className="error"> {error}</span>}
      </td>
    </tr>
  )
}

/**
 * The dead letters of every mailbox the key may read (`GET /dead-letters`,
 * read again every 10 s), a page at a time, each with a Replay button for
 * keys that may send to that agent.
 */
export function DeadLetters() {
  const [cursors, setCursors] = useState<string[]>([])
  const cursor = cursors[cursors.length - 1]
  const path = `/dead-letters?limit=${PAGE}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
  // Asked first, so that a key that may not read mailboxes is not refused (refusals count toward a block).
  const may = useAllowed('agent:*', ['read'])
  const { data, error, reload } = useApi<DeadLetterPage>(may.read === true ? path : null, 10_000)
  return (
    <>
      <h2>Dead letters</h2>
      {may.read === false && <p className="hint">This key may not read the agents’ mailboxes.</p>}
      {error !== undefined && (
        <p className="error" role="alert">
          {error instanceof ApiError ? `${error.code}: ${error.message}` : error.message}
        </p>
      )}
      {data !== undefined && !data.mailboxes && (
        <p className="hint">
          This server reads no mailboxes (a SQLite or memory store without --agent-modules): no dead letters to show.
        </p>
      )}
      {data !== undefined && data.mailboxes && data.deadLetters.length === 0 && cursor === undefined && (
        <p className="hint">No dead letters.</p>
      )}
      {data !== undefined && data.deadLetters.length > 0 && (
        <table className="grid" data-testid="dead-letters">
          <thead>
            <tr>
              <th>Agent</th>
              <th>From</th>
              <th>Message</th>
              <th>Deliveries</th>
              <th>Dead at</th>
              <th>Why</th>
              <th>
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data.deadLetters.map((d) => (
              <Row key={d.id} letter={d} onReplayed={reload} />
            ))}
          </tbody>
        </table>
      )}
      {(cursor !== undefined || data?.nextCursor != null) && (
        <p className="pager">
          <button type="button" disabled={cursor === undefined} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Previous
          </button>{' '}
          <button
            type="button"
            disabled={data?.nextCursor == null}
            onClick={() => setCursors((c) => (data?.nextCursor == null ? c : [...c, data.nextCursor]))}
          >
            Next
          </button>
        </p>
      )}
    </>
  )
}
