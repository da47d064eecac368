import { EVENT_BATCH } from '../rows.js'
import { badPosition, tailLimit, type TailedEvent, type TailOptions, type TailPage } from '../records.js'
import type { Statements } from './statements.js'

/**
 * A page of the SQLite store's event log: the events after `options.after`
 * in commit order. An event's position is `<pos>.<k>`: the `pos` of its row
 * (see the schema) and its index `k` in the row's batch.
 */
export function tailSqlite(s: Statements, options: TailOptions): TailPage {
  const limit = tailLimit(options)
  const after = options.after ?? ''
  const [pos, k] = after === '' ? [0, -1] : parsePosition(after)
  const out: TailedEvent[] = []
  if (limit === 0) return { events: out, next: after }
  // Each row holds one event or more; the first may hold only events at or before the cursor.
  const rows =
    options.runId === undefined ? s.tailEvents.all(pos, limit + 1) : s.tailRunEvents.all(options.runId, pos, limit + 1)
  for (const row of rows) {
    const events = EVENT_BATCH.decodeRequired(row.body, `events at ${row.pos}`)
    for (let i = row.pos === pos ? k + 1 : 0; i < events.length && out.length < limit; i++)
      out.push({ position: `${row.pos}.${i}`, seq: row.first_seq + i, event: events[i] })
    if (out.length >= limit) break
  }
  return { events: out, next: out.length === 0 ? after : out[out.length - 1].position }
}

function parsePosition(after: string): [number, number] {
  const m = typeof after === 'string' ? /^([1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,8})$/.exec(after) : null
  const pos = m === null ? NaN : Number(m[1])
  if (m === null || !Number.isSafeInteger(pos)) throw badPosition(String(after), 'SQLite')
  return [pos, Number(m[2])]
}
