import { defineDomain, type Migration } from '../../db/migrations.js'
import type { PostgresStep } from '../../db/postgres/migrate.js'
import { claimFunction } from './queue-sql.js'

/**
 * The versioned migrations of the PostgreSQL store (the `store` domain). The
 * driver's migrator applies each one once, in order, inside the transaction
 * that holds the schema's advisory lock, and records it in
 * `flotilla_migrations`; it also creates that table and `flotilla_meta`.
 *
 * Payloads (task outputs, run inputs, definitions, errors, events) are `json`,
 * not `jsonb`: `json` keeps the text as written, so every JSON value
 * round-trips, including strings holding `\u0000`, which `jsonb` refuses; the
 * store never queries inside a payload. SQL NULL stands for `undefined`, the
 * JSON text `null` for `null`. Times are wall-clock ms as `double precision`
 * (exact for integers, and a fake clock may give fractions).
 */

const FINAL_RUN = `('SUCCEEDED','FAILED','CANCELLED')`
const FINAL_TASK = `('SUCCEEDED','FAILED','SKIPPED','CANCELLED')`

/** SQLSTATE raised by `flotilla_commit` for a write that conflicts with stored state. */
export const SQLSTATE_CONFLICT = 'FL409'
/** SQLSTATE raised by `flotilla_commit` for a write to a run that does not exist. */
export const SQLSTATE_RUN_NOT_FOUND = 'FL404'

const tables = (s: string): string => `
-- One row per distinct definition text (its sha256), shared by every run of it.
CREATE TABLE ${s}.definitions (
  id text COLLATE "C" PRIMARY KEY,
  body json NOT NULL
);
CREATE TABLE ${s}.runs (
  id text COLLATE "C" PRIMARY KEY,
  workflow text COLLATE "C" NOT NULL,
  workflow_hash text NOT NULL,
  definition_id text COLLATE "C" REFERENCES ${s}.definitions (id),
  input json,
  state text NOT NULL,
  created_at double precision NOT NULL,
  started_at double precision,
  finished_at double precision,
  error json,
  parent_run_id text COLLATE "C",
  event_count integer NOT NULL DEFAULT 0
) WITH (fillfactor = 80);
CREATE INDEX runs_created ON ${s}.runs (created_at DESC, id DESC);
CREATE INDEX runs_workflow ON ${s}.runs (workflow, created_at DESC, id DESC);
CREATE INDEX runs_definition ON ${s}.runs (definition_id);
CREATE INDEX runs_finished ON ${s}.runs (finished_at) WHERE state IN ${FINAL_RUN};
CREATE TABLE ${s}.tasks (
  run_id text COLLATE "C" NOT NULL REFERENCES ${s}.runs (id) ON DELETE CASCADE,
  task_id text COLLATE "C" NOT NULL,
  idx integer NOT NULL,
  state text NOT NULL,
  attempt integer NOT NULL,
  agent text,
  priority text NOT NULL,
  idempotency_key text NOT NULL,
  started_at double precision,
  finished_at double precision,
  output json,
  error json,
  PRIMARY KEY (run_id, task_id)
) WITH (fillfactor = 70);
CREATE TABLE ${s}.events (
  run_id text COLLATE "C" NOT NULL REFERENCES ${s}.runs (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  body json NOT NULL,
  PRIMARY KEY (run_id, seq)
);
`

/** Raises the right error for a write that matched no row. */
const refuse = (s: string, v3 = false): string => `
CREATE OR REPLACE FUNCTION ${s}.flotilla_refuse(k text, r text, t text, a integer) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  st text;
  att integer;${
    v3
      ? `
  rst text;`
      : ''
  }
BEGIN
  SELECT state INTO st FROM ${s}.runs WHERE id = r;${
    v3
      ? `
  rst := st;`
      : ''
  }
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_RUN_NOT_FOUND}', MESSAGE = 'run not found', DETAIL = json_build_object('runId', r)::text;
  END IF;
  IF k = 'state' THEN
    RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'run final', DETAIL = json_build_object('reason', 'run-final', 'runId', r, 'state', st)::text;
  END IF;
  SELECT state, attempt INTO st, att FROM ${s}.tasks WHERE run_id = r AND task_id = t;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'no such task', DETAIL = json_build_object('reason', 'no-task', 'runId', r, 'taskId', t)::text;
  END IF;${
    v3
      ? `
  IF (k = 'start' AND rst NOT IN ('PENDING','RUNNING')) OR (k IN ('succeed','fail') AND rst NOT IN ('PENDING','RUNNING','PAUSED')) THEN
    RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'run state',
      DETAIL = json_build_object('reason', 'run-' || lower(rst), 'runId', r, 'taskId', t, 'runState', rst, 'op', k)::text;
  END IF;`
      : ''
  }
  RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'stale write',
    DETAIL = json_build_object('reason', k, 'runId', r, 'taskId', t, 'attempt', a, 'storedAttempt', att, 'state', st)::text;
END
$fn$;
`

/**
 * Applies a whole batch in the caller's transaction (one statement, so one
 * round trip and one commit). `ops` holds the structure of the writes; the
 * payloads travel as JSON texts in `vals`, referenced by 1-based index, so
 * that no JSON function ever has to decode them. `version`: the schema
 * version the function is written for (3: run-state fencing, settle, holder;
 * 4: event positions, see {@link positions}; 5: the tasks' model spend; 6: the runs' parent task; 7: the runs' trace context; 8: the runs' generated summary).
 */
const commit = (s: string, version = 1): string => {
  const v3 = version >= 3
  const v4 = version >= 4
  const v5 = version >= 5
  const v6 = version >= 6
  const v7 = version >= 7
  const v9 = version >= 9
  const model = v5 ? ', model = COALESCE(vals[o.m]::json, model)' : ''
  return `
CREATE OR REPLACE FUNCTION ${s}.flotilla_commit(ops json, vals text[], ev_runs text[], ev_bodies text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  o record;
  def_id text;
BEGIN
  FOR o IN
    SELECT * FROM ROWS FROM (json_to_recordset(ops) AS (
      k text, r text, t text, a integer, at double precision, s text, ag text, f boolean, v integer, e integer,
      wf text, wh text, d integer, ca double precision, sa double precision, fa double precision, pr text, ts json${v3 ? ', st boolean, ho text, lu double precision' : ''}${v5 ? ', m integer' : ''}${v6 ? ', pt text' : ''}${v7 ? ', tp text' : ''})) WITH ORDINALITY AS x
    ORDER BY x.ordinality
  LOOP
    CASE o.k
    WHEN 'start' THEN
      UPDATE ${s}.tasks SET state = 'RUNNING', attempt = o.a, agent = o.ag, started_at = o.at
        WHERE run_id = o.r AND task_id = o.t AND attempt < o.a AND state NOT IN ${FINAL_TASK}${
          v3
            ? `
          AND (SELECT state FROM ${s}.runs WHERE id = o.r) IN ('PENDING','RUNNING')`
            : ''
        };
    WHEN 'succeed' THEN
      UPDATE ${s}.tasks SET state = 'SUCCEEDED', output = vals[o.v]::json, error = NULL, finished_at = o.at${model}
        WHERE run_id = o.r AND task_id = o.t AND attempt = o.a AND state = 'RUNNING'${
          v3
            ? `
          AND (SELECT state FROM ${s}.runs WHERE id = o.r) IN ('PENDING','RUNNING','PAUSED')`
            : ''
        };
    WHEN 'fail' THEN
      UPDATE ${s}.tasks SET state = CASE WHEN o.f THEN 'FAILED' ELSE 'RETRYING' END, error = vals[o.e]::json,
          finished_at = CASE WHEN o.f THEN o.at ELSE finished_at END${model}
        WHERE run_id = o.r AND task_id = o.t AND attempt = o.a${
          v3
            ? ` AND (state = 'RUNNING' OR (state = 'RETRYING' AND o.st))
          AND (SELECT state FROM ${s}.runs WHERE id = o.r) IN ('PENDING','RUNNING','PAUSED')`
            : ` AND state = 'RUNNING'`
        };
    WHEN 'finish' THEN
      UPDATE ${s}.tasks SET state = o.s, finished_at = o.at
        WHERE run_id = o.r AND task_id = o.t AND state NOT IN ${FINAL_TASK};
    WHEN 'state' THEN
      UPDATE ${s}.runs SET state = o.s,
          started_at = CASE WHEN o.s = 'RUNNING' AND started_at IS NULL THEN o.at ELSE started_at END,
          finished_at = CASE WHEN o.s IN ${FINAL_RUN} THEN o.at ELSE finished_at END,
          error = COALESCE(vals[o.e]::json, error)
        WHERE id = o.r AND (state NOT IN ${FINAL_RUN} OR state = o.s);
${
  v9
    ? `    WHEN 'summary' THEN
      UPDATE ${s}.runs SET summary = vals[o.v]::json WHERE id = o.r;
`
    : ''
}    WHEN 'create' THEN
      def_id := NULL;
      IF o.d IS NOT NULL THEN
        def_id := encode(sha256(convert_to(vals[o.d], 'UTF8')), 'hex');
        INSERT INTO ${s}.definitions (id, body) VALUES (def_id, vals[o.d]::json) ON CONFLICT (id) DO NOTHING;
      END IF;
      INSERT INTO ${s}.runs (id, workflow, workflow_hash, definition_id, input, state, created_at, started_at, finished_at, error, parent_run_id${v6 ? ', parent_task_id' : ''}${v7 ? ', trace_parent' : ''})
        VALUES (o.r, o.wf, o.wh, def_id, vals[o.v]::json, o.s, o.ca, o.sa, o.fa, vals[o.e]::json, o.pr${v6 ? ', o.pt' : ''}${v7 ? ', o.tp' : ''})
        ON CONFLICT (id) DO NOTHING;
      IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '${SQLSTATE_CONFLICT}', MESSAGE = 'run exists', DETAIL = json_build_object('reason', 'run-exists', 'runId', o.r)::text;
      END IF;
      INSERT INTO ${s}.tasks (run_id, task_id, idx, state, attempt, agent, priority, idempotency_key, started_at, finished_at, output, error)
        SELECT o.r, x.t, x.ordinality - 1, x.s, x.a, x.ag, x.p, x.key, x.sa, x.fa, vals[x.v]::json, vals[x.e]::json
        FROM ROWS FROM (json_to_recordset(o.ts) AS (t text, s text, a integer, ag text, p text, key text, sa double precision, fa double precision, v integer, e integer)) WITH ORDINALITY AS x;${
          v3
            ? `
      IF o.ho IS NOT NULL THEN
        UPDATE ${s}.runs SET holder = o.ho, lease_until = COALESCE(o.lu, 0) WHERE id = o.r;
      END IF;`
            : ''
        }
      CONTINUE;
    END CASE;
    IF NOT FOUND THEN
      PERFORM ${s}.flotilla_refuse(o.k, o.r, o.t, o.a);
    END IF;
  END LOOP;

  IF cardinality(ev_runs) > 0 THEN
    WITH e AS (
      SELECT u.r, u.b, u.ord FROM unnest(ev_runs, ev_bodies) WITH ORDINALITY AS u(r, b, ord)
    ), c AS (
      SELECT e.r, count(*)::integer AS n FROM e GROUP BY e.r
    ), bumped AS (${
      v4
        ? `
      UPDATE ${s}.runs SET event_count = runs.event_count + c.n, event_tx = greatest(runs.event_tx, pg_current_xact_id())
        FROM c WHERE runs.id = c.r
      RETURNING runs.id, runs.event_count - c.n AS base, runs.event_tx AS tx
    )
    INSERT INTO ${s}.events (run_id, seq, body, tx)
    SELECT e.r, bumped.base + row_number() OVER (PARTITION BY e.r ORDER BY e.ord), e.b::json, bumped.tx`
        : `
      UPDATE ${s}.runs SET event_count = runs.event_count + c.n FROM c WHERE runs.id = c.r
      RETURNING runs.id, runs.event_count - c.n AS base
    )
    INSERT INTO ${s}.events (run_id, seq, body)
    SELECT e.r, bumped.base + row_number() OVER (PARTITION BY e.r ORDER BY e.ord), e.b::json`
    }
    FROM e JOIN bumped ON bumped.id = e.r;
  END IF;
END
$fn$;
`
}

/** Deletes old final runs (tasks and events cascade) and the definitions no run uses any more. */
const prune = (s: string): string => `
CREATE FUNCTION ${s}.flotilla_prune(before double precision) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  n integer;
  defs text[];
BEGIN
  -- Waits for run creations in flight and holds new ones until commit, so a
  -- definition that a concurrent run is about to use is never deleted.
  LOCK TABLE ${s}.definitions IN SHARE ROW EXCLUSIVE MODE;
  WITH gone AS (
    DELETE FROM ${s}.runs WHERE state IN ${FINAL_RUN} AND finished_at < before RETURNING definition_id
  )
  SELECT count(*)::integer, array_agg(DISTINCT definition_id) FILTER (WHERE definition_id IS NOT NULL) INTO n, defs FROM gone;
  IF defs IS NOT NULL THEN
    DELETE FROM ${s}.definitions d WHERE d.id = ANY (defs)
      AND NOT EXISTS (SELECT 1 FROM ${s}.runs r WHERE r.definition_id = d.id);
  END IF;
  RETURN n;
END
$fn$;
`

/**
 * Deployed agent instances and their lifecycle transitions. `transition_count`
 * numbers the transitions: a save bumps it in the fenced UPDATE, under the
 * row's lock, so concurrent saves of one agent never take the same `seq`.
 */
const agents = (s: string): string => `
CREATE TABLE ${s}.agents (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  version text NOT NULL,
  parent_id text COLLATE "C",
  runtime text NOT NULL,
  state text NOT NULL,
  reason text,
  spec json,
  permissions json,
  limits json,
  pid integer,
  created_at double precision NOT NULL,
  updated_at double precision NOT NULL,
  transition_count integer NOT NULL DEFAULT 0
);
CREATE INDEX agents_created ON ${s}.agents (created_at, id);
CREATE INDEX agents_parent ON ${s}.agents (parent_id, created_at, id);
CREATE INDEX agents_state ON ${s}.agents (state, updated_at);
CREATE TABLE ${s}.agent_transitions (
  agent_id text COLLATE "C" NOT NULL REFERENCES ${s}.agents (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  from_state text,
  to_state text NOT NULL,
  reason text,
  at double precision NOT NULL,
  PRIMARY KEY (agent_id, seq)
);
`

/**
 * Run leases, the task queue and the worker catalog (see the SQLite schema
 * for their meaning); the commit function learns the run-state fencing (no
 * start in a run that is not PENDING or RUNNING, no result in a CANCELLED or
 * final one), `settle` (a RETRYING attempt made final by its coordinator) and
 * the holder of a created run. `queue.seq` orders entries offered in the same
 * millisecond (an offer batch stays first-in, first-out).
 */
const queue = (s: string): string =>
  `
ALTER TABLE ${s}.runs ADD COLUMN holder text COLLATE "C";
ALTER TABLE ${s}.runs ADD COLUMN lease_until double precision NOT NULL DEFAULT 0;
CREATE INDEX runs_unheld ON ${s}.runs (lease_until, created_at) WHERE state IN ('PENDING','RUNNING','PAUSED');
CREATE INDEX runs_holder ON ${s}.runs (holder) WHERE holder IS NOT NULL;
CREATE TABLE ${s}.queue (
  run_id text COLLATE "C" NOT NULL REFERENCES ${s}.runs (id) ON DELETE CASCADE,
  task_id text COLLATE "C" NOT NULL,
  attempt integer NOT NULL,
  agent text COLLATE "C",
  version text,
  capability text COLLATE "C",
  priority integer NOT NULL,
  rank integer NOT NULL,
  not_before double precision NOT NULL,
  offered_at double precision NOT NULL,
  state text NOT NULL,
  worker text COLLATE "C",
  lease_until double precision NOT NULL DEFAULT 0,
  ok boolean,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  PRIMARY KEY (run_id, task_id)
) WITH (fillfactor = 70);
CREATE INDEX queue_ready ON ${s}.queue (priority, rank DESC, offered_at, seq) WHERE state = 'READY';
CREATE INDEX queue_claimed ON ${s}.queue (lease_until) WHERE state = 'CLAIMED';
CREATE INDEX queue_done ON ${s}.queue (run_id) WHERE state = 'DONE';
CREATE TABLE ${s}.workers (
  id text COLLATE "C" PRIMARY KEY,
  body json NOT NULL,
  heartbeat_at double precision NOT NULL
);
` +
  refuse(s, true) +
  commit(s, 3) +
  claimFunction(s)

/**
 * Event positions for tailing (version 4). Each event row records `tx`: the
 * id of the transaction that wrote it (`pg_current_xact_id()`), raised to the
 * run's previous `event_tx` when that is higher (a transaction that got its
 * id first may take the run's row lock second: its events are numbered after
 * the other's, so they must not sort before them). A tail reads, in `(tx,
 * run_id, seq)` order, only rows whose `tx` is below the oldest transaction
 * still in progress (`pg_snapshot_xmin`): every writer of such a row has
 * ended, and any later write gets a `tx` at least its own id, which is at or
 * above that bound — so nothing can appear later before a position already
 * passed. Rows written before version 4 get `tx` 0: first, run by run.
 */
const positions = (s: string): string =>
  `
ALTER TABLE ${s}.events ADD COLUMN tx xid8 NOT NULL DEFAULT '0';
ALTER TABLE ${s}.events ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
ALTER TABLE ${s}.runs ADD COLUMN event_tx xid8 NOT NULL DEFAULT '0';
CREATE INDEX events_tail ON ${s}.events (tx, run_id, seq);
` + commit(s, 4)

/**
 * A task's model spend over its attempts (version 5): JSON, written with each
 * attempt's result by `flotilla_commit` and the queue's group complete; NULL
 * before any model call.
 */
const spend = (s: string): string =>
  `
ALTER TABLE ${s}.tasks ADD COLUMN model json;
` + commit(s, 5)

/**
 * Child runs (version 6): `runs.parent_task_id` is, for a run planned by a
 * task, that task of `parent_run_id`; `flotilla_commit` writes it on create.
 */
const childRuns = (s: string): string =>
  `
ALTER TABLE ${s}.runs ADD COLUMN parent_task_id text COLLATE "C";
CREATE INDEX runs_parent ON ${s}.runs (parent_run_id, created_at) WHERE parent_run_id IS NOT NULL;
` + commit(s, 6)

/**
 * The W3C `traceparent` of a run's span (version 7), written when the run is
 * created by a process that traces; NULL otherwise.
 */
const traceParent = (s: string): string =>
  `
ALTER TABLE ${s}.runs ADD COLUMN trace_parent text;
` + commit(s, 7)

const settings = (s: string): string => `
CREATE TABLE ${s}.settings (key text PRIMARY KEY, value text NOT NULL, updated_at double precision NOT NULL);
`

/**
 * A run's generated summary (version 9): JSON, written by `flotilla_commit`
 * (op `summary`) after the run ended; NULL without one.
 */
const runSummary = (s: string): string =>
  `
ALTER TABLE ${s}.runs ADD COLUMN summary json;
` + commit(s, 9)

/** Every migration, oldest first. The last version is the one this code writes. */
export const MIGRATIONS: readonly Migration<PostgresStep>[] = [
  {
    version: 1,
    name: 'runs, tasks, events, definitions; commit and prune functions',
    up: (s) => tables(s) + refuse(s) + commit(s) + prune(s),
  },
  { version: 2, name: 'agents, agent_transitions', up: agents },
  { version: 3, name: 'run leases, task queue, worker catalog; run-state fencing', up: queue },
  { version: 4, name: 'event positions for tailing', up: positions },
  { version: 5, name: 'model spend of tasks', up: spend },
  { version: 6, name: 'child runs: the parent task of a run', up: childRuns },
  { version: 7, name: 'trace context of runs', up: traceParent },
  { version: 8, name: 'settings (alert rules set through the API)', up: settings },
  { version: 9, name: 'generated summaries of runs', up: runSummary },
]

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version

/** The store's domain, for the driver's migrator. */
export const STORE_DOMAIN = defineDomain('store', MIGRATIONS)
