import type { RunEvent } from '../../core/events.js'
import type { RunId, TaskId } from '../../core/ids.js'
import { completeInfo, type CommitHooks } from '../commit-hooks.js'
import { leaseLost, runCancelled } from '../fence.js'
import type { QueueResult } from '../queue.js'
import { encodeBatch, jsonText } from './codec.js'

type Key = { runId: RunId; taskId: TaskId; attempt: number }
/** Runs one named statement (the store's query, as the queue's `QueueQuery`). */
type Query = <R>(name: string, text: string, values: unknown[]) => Promise<R[]>

interface Pending {
  readonly worker: string
  readonly claim: Key
  readonly ok: boolean
  readonly output: string | null
  readonly error: string | null
  /** JSON text of the task's model spend, or null to keep the stored one. */
  readonly model: string | null
  readonly at: number
  readonly events: readonly RunEvent[]
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

interface Row {
  worker: string | null
  attempt: number | null
  state: string | null
  run_state: string | null
  done: boolean
}

/** Most results written by one statement. */
const MAX_BATCH = 500
/** Statements of results in flight at once (each holds a pooled connection). */
const MAX_IN_FLIGHT = 2
const UNFINISHED = new Set<string>(['PENDING', 'RUNNING', 'PAUSED'])

/**
 * The statement storing many results at once, each fenced as a single
 * `complete` is (worker, attempt, claim state, run state), under the entries'
 * row locks taken in key order (a statement that still collides with a
 * concurrent one is run again by the store's query). Only the events of the
 * results that were stored are appended, and one NOTIFY wakes the
 * coordinators. $1 runs, $2 tasks, $3 workers, $4 attempts, $5 ok, $6 outputs
 * (JSON text), $7 errors (JSON text), $8 times, $9/$10 events (as
 * `flotilla_commit` takes them), $11 the index (1-based) of the result each
 * event belongs to, $12 the channel, $13 the tasks' model spend (JSON text; NULL keeps the stored one).
 */
export function groupCompleteStatement(s: string): string {
  return `WITH c AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::boolean[], $6::text[], $7::text[], $8::float8[], $13::text[])
      WITH ORDINALITY AS c(r, t, w, a, ok, out, err, at, mdl, ord)
  ), h AS (
    SELECT c.ord, q.worker, q.attempt, q.state, r.state AS run_state
    FROM c JOIN ${s}.queue q ON q.run_id = c.r AND q.task_id = c.t JOIN ${s}.runs r ON r.id = q.run_id
    ORDER BY q.run_id, q.task_id
    FOR UPDATE OF q
  ), fenced AS (
    UPDATE ${s}.tasks t SET state = CASE WHEN c.ok THEN 'SUCCEEDED' ELSE 'RETRYING' END,
      output = CASE WHEN c.ok THEN c.out::json ELSE t.output END,
      error = CASE WHEN c.ok THEN NULL ELSE c.err::json END,
      finished_at = CASE WHEN c.ok THEN c.at ELSE t.finished_at END,
      model = COALESCE(c.mdl::json, t.model)
    FROM c JOIN h ON h.ord = c.ord
    WHERE t.run_id = c.r AND t.task_id = c.t AND t.attempt = c.a AND t.state = 'RUNNING'
      AND h.worker = c.w AND h.attempt = c.a AND h.state = 'CLAIMED' AND h.run_state IN ('PENDING','RUNNING','PAUSED')
    RETURNING c.ord, c.r, c.t, c.ok
  ), done AS (
    UPDATE ${s}.queue q SET state = 'DONE', ok = f.ok, worker = NULL FROM fenced f WHERE q.run_id = f.r AND q.task_id = f.t RETURNING f.ord
  ), ev AS (
    SELECT e.run, e.body, e.i FROM unnest($9::text[], $10::text[], $11::int[]) WITH ORDINALITY AS e(run, body, owner, i)
    WHERE e.owner IN (SELECT ord FROM done)
  ), side AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM ev)
        THEN ${s}.flotilla_commit('[]'::json, '{}'::text[], (SELECT array_agg(run ORDER BY i) FROM ev), (SELECT array_agg(body ORDER BY i) FROM ev)) END AS e,
      pg_notify($12, '') AS n
    WHERE EXISTS (SELECT 1 FROM done)
  )
  SELECT h.worker, h.attempt, h.state, h.run_state, EXISTS (SELECT 1 FROM done d WHERE d.ord = c.ord) AS done, (SELECT count(*) FROM side) AS side
  FROM c LEFT JOIN h ON h.ord = c.ord ORDER BY c.ord`
}

/**
 * Group commit of results: `complete` calls made while a statement is in
 * flight are stored together by the next one, so a worker finishing many
 * short tasks pays one round trip per batch rather than per task, and an idle
 * one pays no added latency (a lone result goes at once). Each caller still
 * learns its own outcome: stored, lease lost, or run cancelled.
 */
export class GroupComplete {
  private pending: Pending[] = []
  private inFlight = 0

  constructor(
    private readonly query: Query,
    private readonly statement: string,
    private readonly channel: string,
    private readonly onStored: () => void,
    private readonly commits?: CommitHooks,
  ) {}

  /** Stores one result with the next batch; rejects as `complete` does. */
  complete(worker: string, claim: Key, result: QueueResult, events: readonly RunEvent[], at: number): Promise<void> {
    const output = result.ok
      ? jsonText(result.output, `the output of task "${claim.taskId}" (run "${claim.runId}")`)
      : null
    const error = result.ok ? null : jsonText(result.error, `the error of task "${claim.taskId}"`)
    const model = jsonText(result.model, `the model spend of task "${claim.taskId}"`)
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ worker, claim, ok: result.ok, output, error, model, at, events, resolve, reject })
      if (this.inFlight < MAX_IN_FLIGHT) void this.drain()
    })
  }

  private async drain(): Promise<void> {
    this.inFlight++
    try {
      while (this.pending.length > 0) await this.write(this.take())
    } finally {
      this.inFlight--
    }
  }

  /** The next batch: at most one result per task (a second one waits for the next statement). */
  private take(): Pending[] {
    const batch: Pending[] = []
    const keys = new Set<string>()
    const rest: Pending[] = []
    for (const p of this.pending) {
      const key = `${p.claim.runId}\u0000${p.claim.taskId}`
      if (batch.length >= MAX_BATCH || keys.has(key)) rest.push(p)
      else {
        keys.add(key)
        batch.push(p)
      }
    }
    this.pending = rest
    return batch
  }

  private async write(batch: Pending[]): Promise<void> {
    const evRuns: string[] = []
    const evBodies: string[] = []
    const owners: number[] = []
    batch.forEach((p, k) => {
      if (p.events.length === 0) return
      const ev = encodeBatch({ ops: [], events: p.events })
      evRuns.push(...ev.evRuns)
      evBodies.push(...ev.evBodies)
      for (let e = 0; e < ev.evRuns.length; e++) owners.push(k + 1)
    })
    let rows: Row[]
    const end = this.commits?.active
      ? this.commits.start(
          completeInfo(
            'postgresql',
            batch.map((p) => p.claim),
            evRuns.length,
          ),
        )
      : undefined
    try {
      rows = await this.query<Row>('flotilla_q_complete_many', this.statement, [
        batch.map((p) => p.claim.runId),
        batch.map((p) => p.claim.taskId),
        batch.map((p) => p.worker),
        batch.map((p) => p.claim.attempt),
        batch.map((p) => p.ok),
        batch.map((p) => p.output),
        batch.map((p) => p.error),
        batch.map((p) => p.at),
        evRuns,
        evBodies,
        owners,
        this.channel,
        batch.map((p) => p.model),
      ])
    } catch (e) {
      end?.(e)
      for (const p of batch) p.reject(e)
      return
    }
    end?.()
    let stored = false
    batch.forEach((p, k) => {
      const row = rows[k]
      if (row.done) {
        stored = true
        return p.resolve()
      }
      if (row.worker !== p.worker || row.attempt !== p.claim.attempt || row.state !== 'CLAIMED')
        return p.reject(leaseLost(p.claim, p.worker))
      if (row.run_state !== null && !UNFINISHED.has(row.run_state))
        return p.reject(runCancelled(p.claim, row.run_state))
      p.reject(leaseLost(p.claim, p.worker))
    })
    if (stored) this.onStored()
  }
}
