import { defineDomain, type Migration } from '../../db/migrations.js'
import type { PostgresStep } from '../../db/postgres/migrate.js'
import { claimFunction } from './queue-sql.js'
import {
  commitFunction as commit,
  FINAL_RUN,
  pruneFunction as prune,
  refuseFunction as refuse,
} from './schema-functions.js'

export { SQLSTATE_CONFLICT, SQLSTATE_RUN_NOT_FOUND } from './schema-functions.js'

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
