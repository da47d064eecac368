/*
 * The PL/pgSQL functions of the PostgreSQL store, as the migrations of
 * `schema.ts` create them: `flotilla_refuse` (the error of a write that
 * matched no row), `flotilla_commit` (a whole batch in one statement; each
 * migration that changes what it writes replaces it with the version it is
 * written for) and `flotilla_prune`. Each generator takes the quoted schema.
 */

/** The final run states, as an SQL list. */
export const FINAL_RUN = `('SUCCEEDED','FAILED','CANCELLED')`
/** The final task states, as an SQL list. */
const FINAL_TASK = `('SUCCEEDED','FAILED','SKIPPED','CANCELLED')`

/** SQLSTATE raised by `flotilla_commit` for a write that conflicts with stored state. */
export const SQLSTATE_CONFLICT = 'FL409'
/** SQLSTATE raised by `flotilla_commit` for a write to a run that does not exist. */
export const SQLSTATE_RUN_NOT_FOUND = 'FL404'

/** Raises the right error for a write that matched no row. */
export const refuseFunction = (s: string, v3 = false): string => `
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
 * 4: event positions, see the version 4 migration in `schema.ts`; 5: the tasks' model spend; 6: the runs' parent task; 7: the runs' trace context; 8: the runs' generated summary).
 */
export const commitFunction = (s: string, version = 1): string => {
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
export const pruneFunction = (s: string): string => `
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
