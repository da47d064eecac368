import { createHash } from 'node:crypto'

/**
 * The statements of the PostgreSQL task queue. Each operation is ONE
 * statement (data-modifying CTEs), so it is one round trip and one
 * transaction: the fencing checks, the writes, the events and the NOTIFY
 * commit together or not at all. A NOTIFY issued in a statement is delivered
 * when its transaction commits.
 */
export interface QueueStatements {
  offer: string
  claim: string
  heartbeat: string
  release: string
  take: string
  drop: string
  claimRuns: string
  notify: string
  renewRuns: string
  releaseRuns: string
  holder: string
  advertise: string
  retire: string
  listWorkers: string
  storeTime: string
  waiting: string
}

const FINAL_TASK = `('SUCCEEDED','FAILED','SKIPPED','CANCELLED')`
const UNFINISHED_RUN = `('PENDING','RUNNING','PAUSED')`

/**
 * The NOTIFY channel of a schema's queue: `flotilla_queue_<schema>`, or a hash
 * of the schema name when that would pass PostgreSQL's 63-byte identifier
 * limit (a longer channel name is refused, not truncated, by `pg_notify`).
 */
export function queueChannel(schema: string): string {
  const plain = `flotilla_queue_${schema}`
  return Buffer.byteLength(plain) <= 63 ? plain : `flotilla_queue_${createHash('sha1').update(schema).digest('hex')}`
}

/**
 * The first selector (in the claimer's order) an entry `q` matches, as the
 * label the task stores as its agent: exactly {@link matchOffer}, in SQL.
 */
const match = `(SELECT CASE WHEN q.agent IS NULL THEN COALESCE(sel.agent, 'capability:' || sel.capability)
      WHEN q.version IS NOT NULL THEN sel.agent || '@' || q.version
      WHEN cardinality(sel.versions) > 0 THEN sel.agent || '@' || sel.versions[1]
      ELSE sel.agent END
    FROM sel
    WHERE (q.agent IS NOT NULL AND sel.agent = q.agent AND (q.version IS NULL OR sel.versions IS NULL OR q.version = ANY (sel.versions)))
       OR (q.agent IS NULL AND q.capability IS NOT NULL AND sel.capability = q.capability)
    ORDER BY sel.ord LIMIT 1)`

/** The claimable entries of one kind (`READY` whose time has come, or `CLAIMED` whose lease ran out), best first, locked, skipping locked ones. */
const claimable = (s: string, which: string): string => `
  SELECT q.run_id, q.task_id, q.agent, q.version, q.capability, q.priority, q.rank, q.not_before, q.offered_at, q.seq, m.label, t.state AS task_state
  FROM ${s}.queue q
  JOIN ${s}.runs r ON r.id = q.run_id
  JOIN ${s}.tasks t ON t.run_id = q.run_id AND t.task_id = q.task_id
  CROSS JOIN LATERAL ${match} AS m(label)
  WHERE ${which} AND r.state = 'RUNNING' AND m.label IS NOT NULL
  ORDER BY q.priority, q.rank DESC, q.offered_at, q.seq
  LIMIT max_n
  FOR UPDATE OF q SKIP LOCKED`

/**
 * The claim, as a function of the queue's migration: one statement that walks
 * the claimable entries of RUNNING runs in claim order through the
 * `queue_ready` index, locks them `FOR UPDATE SKIP LOCKED` (a concurrent
 * claimer's rows are passed over, not waited for), matches the selectors
 * (`sel_json`, in the claimer's order) and starts each task with its stored
 * attempt + 1. Entries whose task is already final are dropped and counted in
 * `stale`, never claimed. `enable_sort = off` keeps the plan on the ordered
 * index scan even when the statistics say the queue is empty (a freshly
 * filled queue would otherwise be sorted whole on every claim); `jit = off`,
 * since the costs that setting inflates would otherwise compile the plan
 * (hundreds of ms) on every call.
 */
export const claimFunction = (s: string): string => `
CREATE FUNCTION ${s}.flotilla_claim(sel_json json, now_ms double precision, max_n integer, w text, until_ms double precision)
RETURNS TABLE (run_id text, task_id text, attempt integer, agent text, version text, capability text, priority integer, rank integer,
  not_before double precision, stale integer)
LANGUAGE plpgsql SET enable_sort = off SET jit = off AS $fn$
#variable_conflict use_column
BEGIN
  RETURN QUERY WITH sel AS (
      SELECT x.agent, x.versions, x.capability, x.ord
      FROM ROWS FROM (json_to_recordset(sel_json) AS (agent text, versions text[], capability text)) WITH ORDINALITY AS x(agent, versions, capability, ord)
    ), ready AS (${claimable(s, `q.state = 'READY' AND q.not_before <= now_ms`)}
    ), expired AS (${claimable(s, `q.state = 'CLAIMED' AND q.lease_until < now_ms`)}
    ), picked AS (
      SELECT * FROM ready UNION ALL SELECT * FROM expired ORDER BY priority, rank DESC, offered_at, seq LIMIT max_n
    ), started AS (
      UPDATE ${s}.tasks t SET state = 'RUNNING', attempt = t.attempt + 1, agent = p.label, started_at = now_ms FROM picked p
      WHERE t.run_id = p.run_id AND t.task_id = p.task_id AND p.task_state NOT IN ${FINAL_TASK} AND t.state NOT IN ${FINAL_TASK}
      RETURNING t.run_id, t.task_id, t.attempt
    ), taken AS (
      UPDATE ${s}.queue q SET state = 'CLAIMED', worker = w, lease_until = until_ms, attempt = st.attempt FROM started st
      WHERE q.run_id = st.run_id AND q.task_id = st.task_id
      RETURNING q.run_id, q.task_id, q.attempt
    ), gone AS (
      DELETE FROM ${s}.queue q USING picked p WHERE q.run_id = p.run_id AND q.task_id = p.task_id AND p.task_state IN ${FINAL_TASK} RETURNING 1
    )
    SELECT c.run_id, c.task_id, c.attempt, c.agent, c.version, c.capability, c.priority, c.rank, c.not_before, g.stale
    FROM (SELECT count(*)::int AS stale FROM gone) g
    LEFT JOIN (SELECT p.*, k.attempt FROM taken k JOIN picked p ON p.run_id = k.run_id AND p.task_id = k.task_id) c ON true
    ORDER BY c.priority, c.rank DESC, c.offered_at, c.seq;
END
$fn$;
`

/** The statements for the quoted schema `s`. */
export function queueStatements(s: string): QueueStatements {
  return {
    // $1 run ids, $2 task ids, $3 attempts, $4 agents, $5 versions, $6 capabilities, $7 priorities, $8 ranks, $9 not-before, $10 now, $11 channel.
    // All or nothing: an offer of an unknown run or task inserts nothing and names the first one.
    offer: `WITH o AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[], $9::float8[])
        WITH ORDINALITY AS o(r, t, a, ag, v, cap, pr, rk, nb, ord)
    ), missing AS (
      SELECT o.r, o.t FROM o WHERE NOT EXISTS (SELECT 1 FROM ${s}.tasks t WHERE t.run_id = o.r AND t.task_id = o.t) ORDER BY o.ord LIMIT 1
    ), added AS (
      INSERT INTO ${s}.queue (run_id, task_id, attempt, agent, version, capability, priority, rank, not_before, offered_at, state)
      SELECT o.r, o.t, o.a, o.ag, o.v, o.cap, o.pr, o.rk, o.nb, $10::float8, 'READY' FROM o WHERE NOT EXISTS (SELECT 1 FROM missing) ORDER BY o.ord
      ON CONFLICT (run_id, task_id) DO NOTHING
      RETURNING run_id, task_id
    ), ready AS (
      UPDATE ${s}.tasks t SET state = 'READY' FROM added a
      WHERE t.run_id = a.run_id AND t.task_id = a.task_id AND t.state IN ('PENDING','RETRYING') RETURNING 1
    ), woke AS (SELECT pg_notify($11, '') WHERE EXISTS (SELECT 1 FROM added))
    SELECT m.r AS missing_run, m.t AS missing_task, (SELECT count(*)::int FROM ready) AS ready, (SELECT count(*)::int FROM woke) AS woke
    FROM (SELECT 1) one LEFT JOIN missing m ON true`,

    // $1 selectors (json), $2 now, $3 max, $4 worker, $5 lease end: see claimFunction.
    claim: `SELECT * FROM ${s}.flotilla_claim($1::json, $2::float8, $3::int, $4, $5::float8)`,

    // $1 run ids, $2 task ids, $3 attempts, $4 worker, $5 lease end.
    heartbeat: `WITH c AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) WITH ORDINALITY AS c(r, t, a, ord)
    ), renewed AS (
      UPDATE ${s}.queue q SET lease_until = $5::float8 FROM c JOIN ${s}.runs r ON r.id = c.r
      WHERE q.run_id = c.r AND q.task_id = c.t AND q.worker = $4 AND q.attempt = c.a AND q.state = 'CLAIMED' AND r.state IN ${UNFINISHED_RUN}
      RETURNING q.run_id, q.task_id
    )
    SELECT r.state AS run_state, EXISTS (SELECT 1 FROM renewed n WHERE n.run_id = c.r AND n.task_id = c.t) AS renewed
    FROM c LEFT JOIN ${s}.runs r ON r.id = c.r ORDER BY c.ord`,

    // $1 run ids, $2 task ids, $3 attempts, $4 worker, $5 channel. Both the entry and the task must still be this claim's.
    release: `WITH c AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) AS c(r, t, a)
    ), held AS (
      SELECT q.run_id, q.task_id, c.a FROM c JOIN ${s}.queue q ON q.run_id = c.r AND q.task_id = c.t
      WHERE q.worker = $4 AND q.attempt = c.a AND q.state = 'CLAIMED' FOR UPDATE OF q
    ), back AS (
      UPDATE ${s}.tasks t SET state = 'READY', attempt = t.attempt - 1 FROM held h
      WHERE t.run_id = h.run_id AND t.task_id = h.task_id AND t.attempt = h.a AND t.state = 'RUNNING'
      RETURNING t.run_id, t.task_id, h.a
    ), requeued AS (
      UPDATE ${s}.queue q SET state = 'READY', worker = NULL, lease_until = 0, attempt = b.a FROM back b
      WHERE q.run_id = b.run_id AND q.task_id = b.task_id RETURNING 1
    ), woke AS (SELECT pg_notify($5, '') WHERE EXISTS (SELECT 1 FROM requeued))
    SELECT (SELECT count(*)::int FROM requeued) AS n, (SELECT count(*)::int FROM woke) AS woke`,

    // $1 coordinator, $2 max.
    take: `WITH picked AS (
      SELECT q.run_id, q.task_id FROM ${s}.queue q JOIN ${s}.runs r ON r.id = q.run_id
      WHERE r.holder = $1 AND q.state = 'DONE' ORDER BY q.offered_at, q.seq LIMIT $2 FOR UPDATE OF q SKIP LOCKED
    ), gone AS (
      DELETE FROM ${s}.queue q USING picked p WHERE q.run_id = p.run_id AND q.task_id = p.task_id AND q.state = 'DONE'
      RETURNING q.run_id, q.task_id, q.attempt, q.ok, q.offered_at, q.seq
    )
    SELECT run_id, task_id, attempt, ok FROM gone ORDER BY offered_at, seq`,

    drop: `DELETE FROM ${s}.queue WHERE run_id = $1`,

    // $1 coordinator, $2 now, $3 max, $4 lease end, $5 only these ids (or NULL). Runs being written (row locked) are passed over this time.
    claimRuns: `WITH picked AS (
      SELECT id FROM ${s}.runs WHERE state IN ${UNFINISHED_RUN} AND lease_until < $2::float8 AND ($5::text[] IS NULL OR id = ANY ($5::text[]))
      ORDER BY created_at, id LIMIT $3
      FOR NO KEY UPDATE SKIP LOCKED
    ), taken AS (
      UPDATE ${s}.runs r SET holder = $1, lease_until = $4::float8 FROM picked p WHERE r.id = p.id RETURNING r.id, r.state, r.created_at
    )
    SELECT id, state FROM taken ORDER BY created_at, id`,

    // $1 run ids, $2 coordinator, $3 lease end.
    renewRuns: `UPDATE ${s}.runs SET lease_until = $3::float8 WHERE id = ANY ($1::text[]) AND holder = $2 RETURNING id, state`,

    // $1 run ids, $2 coordinator, $3 channel.
    releaseRuns: `WITH gone AS (
      UPDATE ${s}.runs SET holder = NULL, lease_until = 0 WHERE id = ANY ($1::text[]) AND holder = $2 RETURNING 1
    ), woke AS (SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM gone))
    SELECT (SELECT count(*)::int FROM gone) AS n, (SELECT count(*)::int FROM woke) AS woke`,

    // $1 channel
    notify: `SELECT pg_notify($1, '')`,

    holder: `SELECT holder, lease_until FROM ${s}.runs WHERE id = $1`,
    advertise: `INSERT INTO ${s}.workers (id, body, heartbeat_at) VALUES ($1, $2::json, $3::float8)
      ON CONFLICT (id) DO UPDATE SET body = excluded.body, heartbeat_at = excluded.heartbeat_at`,
    retire: `DELETE FROM ${s}.workers WHERE id = $1`,
    listWorkers: `SELECT body FROM ${s}.workers WHERE heartbeat_at > $1::float8 ORDER BY id`,

    storeTime: `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now`,

    // $1 now, $2 agent names, $3 capabilities. Ready entries through queue_ready, lapsed claims through
    // queue_claimed, grouped by what they ask for (few groups); the selectors are matched in JS (foldWaiting).
    // The run's state is a correlated lookup by key, never a join the planner could turn into a rescan of the
    // queue per run when its statistics say the tables are empty (a queue filled since the last ANALYZE).
    waiting: `SELECT q.agent, q.version, q.capability, count(*)::int AS n, min(q.since)::float8 AS since FROM (
        SELECT run_id, agent, version, capability, GREATEST(offered_at, not_before) AS since FROM ${s}.queue
          WHERE state = 'READY' AND not_before <= $1::float8
        UNION ALL
        SELECT run_id, agent, version, capability, lease_until AS since FROM ${s}.queue
          WHERE state = 'CLAIMED' AND lease_until < $1::float8
      ) q
      WHERE (q.agent = ANY ($2::text[]) OR (q.agent IS NULL AND q.capability = ANY ($3::text[])))
        AND (SELECT r.state FROM ${s}.runs r WHERE r.id = q.run_id) = 'RUNNING'
      GROUP BY q.agent, q.version, q.capability`,
  }
}
