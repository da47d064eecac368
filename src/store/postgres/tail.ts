import { EVENT_BODY } from '../rows.js'
import { badPosition, tailLimit, type TailedEvent, type TailOptions, type TailPage } from '../records.js'

/** Runs one named statement (the store's query). */
type Query = <R>(name: string, text: string, values: unknown[]) => Promise<R[]>

interface TailRow {
  tx: string
  run_id: string
  seq: number
  body: string
}

/** Rows only of transactions older than every one still in progress (see the schema, version 4). */
const SETTLED = 'e.tx < (SELECT pg_snapshot_xmin(pg_current_snapshot()))'
const AFTER = '(e.tx, e.run_id, e.seq) > ($1::xid8, $2::text COLLATE "C", $3::integer)'

/** The tail statements of a schema (`s` quoted). */
export function tailStatements(s: string): { all: string; run: string } {
  const columns = 'SELECT e.tx::text AS tx, e.run_id, e.seq, e.body'
  return {
    all: `${columns} FROM ${s}.events e WHERE ${AFTER} AND ${SETTLED} ORDER BY e.tx, e.run_id, e.seq LIMIT $4`,
    // A run's events by its key (run_id, seq): their tx never decreases as seq grows.
    run: `${columns} FROM ${s}.events e WHERE e.run_id = $5 AND e.seq > $6 AND ${AFTER} AND ${SETTLED}
      ORDER BY e.seq LIMIT $4`,
  }
}

/**
 * A page of the PostgreSQL store's event log. An event's position is
 * `<tx>.<seq>.<run id in base64url>`: the `(tx, run_id, seq)` the tail sorts
 * by, so a position stays valid after its run is pruned.
 */
export async function tailPostgres(
  query: Query,
  sql: { all: string; run: string },
  options: TailOptions,
): Promise<TailPage> {
  const limit = tailLimit(options)
  const after = options.after ?? ''
  const cursor = after === '' ? { tx: '0', seq: 0, runId: '' } : parsePosition(after)
  if (limit === 0) return { events: [], next: after }
  const values: unknown[] = [cursor.tx, cursor.runId, cursor.seq, limit]
  const rows =
    options.runId === undefined
      ? await query<TailRow>('flotilla_tail_events', sql.all, values)
      : await query<TailRow>('flotilla_tail_run_events', sql.run, [
          ...values,
          options.runId,
          cursor.runId === options.runId ? cursor.seq : 0,
        ])
  const events: TailedEvent[] = rows.map((r) => ({
    position: `${r.tx}.${r.seq}.${Buffer.from(r.run_id, 'utf8').toString('base64url')}`,
    seq: r.seq,
    event: EVENT_BODY.decodeRequired(r.body, `event ${r.seq} of run ${r.run_id}`),
  }))
  return { events, next: events.length === 0 ? after : events[events.length - 1].position }
}

const MAX_XID8 = 2n ** 64n - 1n

function parsePosition(after: string): { tx: string; seq: number; runId: string } {
  const m = typeof after === 'string' ? /^(0|[1-9][0-9]{0,19})\.([1-9][0-9]{0,9})\.([A-Za-z0-9_-]*)$/.exec(after) : null
  if (m === null || BigInt(m[1]) > MAX_XID8 || Number(m[2]) > 2_147_483_647)
    throw badPosition(String(after), 'PostgreSQL')
  const runId = Buffer.from(m[3], 'base64url').toString('utf8')
  // Only the canonical text of a run id: no padding, no stray bits.
  if (Buffer.from(runId, 'utf8').toString('base64url') !== m[3]) throw badPosition(after, 'PostgreSQL')
  return { tx: m[1], seq: Number(m[2]), runId }
}
