import { defineDomain, type Migration } from '../../db/migrations.js'

/**
 * The SQLite schema of the store (the `store` domain), as versioned
 * migrations the driver's migrator applies in order on open.
 *
 * - `definitions` holds each workflow definition once (keyed by the SHA-256
 *   of its JSON text); runs reference it.
 * - Events are numbered per run (`seq` 1..n). The events of one run in one
 *   batch are stored as one row (a JSON array covering `first_seq..last_seq`),
 *   so a batch costs one insert per run, not one per event.
 * - `tasks` and `events` have no rowid: one b-tree each, keyed by run.
 * - Task outputs live only in `tasks`; `events` hold the event bodies.
 * - JSON values are TEXT (`JSON.stringify`); `NULL` means undefined.
 * - `agents` holds one row per deployed agent instance; `agent_transitions`
 *   every lifecycle transition of it, numbered 1..n per agent (version 2).
 * - `runs.holder` / `runs.lease_until` are the lease of the process
 *   coordinating a run; `queue` holds the attempts offered to executors (one
 *   entry per task: READY, CLAIMED under a lease, or DONE until its
 *   coordinator takes the result); `workers` is the catalog (version 3).
 * - `events.pos` orders the event rows of all runs as they were committed
 *   (version 4): a batch's rows take the next numbers inside its immediate
 *   transaction, and SQLite has one writer per file, so a row never commits
 *   with a number lower than one already visible. An event's tail position
 *   is `<pos>.<index in its row>`. `event_positions.floor` is the highest
 *   number pruning ever deleted, so numbers are never reused. Rows written
 *   before version 4 are numbered first, run by run (oldest run first).
 * - `tasks.model` is the JSON of a task's model spend over its attempts
 *   (version 5), written with each attempt's result; `NULL` before any call.
 * - `runs.parent_task_id` is, for a child run, the task of `parent_run_id`
 *   whose plan it runs (version 6); child runs are listed by parent.
 * - `runs.trace_parent` is the W3C `traceparent` of the run's span (version 7).
 * - `settings` holds named JSON values the server keeps across restarts,
 *   e.g. the alert rules set through the API (version 8).
 * - `runs.summary` is the JSON of the summary a model wrote of the run when
 *   it ended (version 9), written after its final state.
 */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, tasks, events, definitions',
    up: `
CREATE TABLE definitions (
  hash TEXT PRIMARY KEY,
  body TEXT
);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  workflow TEXT NOT NULL,
  workflow_hash TEXT NOT NULL,
  definition_hash TEXT NOT NULL REFERENCES definitions(hash),
  input TEXT,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  error TEXT,
  parent_run_id TEXT
);
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_workflow ON runs (workflow, created_at DESC);
CREATE INDEX runs_by_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX runs_by_definition ON runs (definition_hash);
CREATE TABLE tasks (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  task_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  agent TEXT,
  priority TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  output TEXT,
  error TEXT,
  PRIMARY KEY (run_id, task_id)
) WITHOUT ROWID;
CREATE TABLE events (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (run_id, first_seq)
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'agents, agent_transitions',
    up: `
CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  parent_id TEXT,
  runtime TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  spec TEXT,
  permissions TEXT,
  limits TEXT,
  pid INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX agents_by_created ON agents (created_at, id);
CREATE INDEX agents_by_parent ON agents (parent_id, created_at, id);
CREATE INDEX agents_by_state ON agents (state, updated_at);
CREATE TABLE agent_transitions (
  agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  reason TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
`,
  },
  {
    version: 3,
    name: 'run leases, task queue, worker catalog',
    up: `
ALTER TABLE runs ADD COLUMN holder TEXT;
ALTER TABLE runs ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;
CREATE INDEX runs_unheld ON runs (lease_until, created_at) WHERE state IN ('PENDING', 'RUNNING', 'PAUSED');
CREATE INDEX runs_by_holder ON runs (holder) WHERE holder IS NOT NULL;
CREATE TABLE queue (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  task_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  agent TEXT,
  version TEXT,
  capability TEXT,
  priority INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  not_before REAL NOT NULL,
  offered_at REAL NOT NULL,
  state TEXT NOT NULL,
  worker TEXT,
  lease_until REAL NOT NULL DEFAULT 0,
  ok INTEGER,
  PRIMARY KEY (run_id, task_id)
) WITHOUT ROWID;
CREATE INDEX queue_by_state ON queue (state, priority, rank DESC, offered_at);
CREATE INDEX queue_by_worker ON queue (worker) WHERE worker IS NOT NULL;
CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  heartbeat_at REAL NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'event positions for tailing',
    up: `
ALTER TABLE events ADD COLUMN pos INTEGER;
UPDATE events SET pos = x.n FROM (
  SELECT e.run_id AS run_id, e.first_seq AS first_seq,
    row_number() OVER (ORDER BY r.created_at, e.run_id, e.first_seq) AS n
  FROM events e LEFT JOIN runs r ON r.id = e.run_id
) AS x WHERE events.run_id = x.run_id AND events.first_seq = x.first_seq;
CREATE UNIQUE INDEX events_by_pos ON events (pos);
CREATE TABLE event_positions (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  floor INTEGER NOT NULL
);
INSERT INTO event_positions (id, floor) VALUES (1, 0);
`,
  },
  {
    version: 5,
    name: 'model spend of tasks',
    up: `ALTER TABLE tasks ADD COLUMN model TEXT;`,
  },
  {
    version: 6,
    name: 'child runs: the parent task of a run',
    up: `
ALTER TABLE runs ADD COLUMN parent_task_id TEXT;
CREATE INDEX runs_by_parent ON runs (parent_run_id, created_at) WHERE parent_run_id IS NOT NULL;
`,
  },
  {
    version: 7,
    name: 'trace context of runs',
    up: `ALTER TABLE runs ADD COLUMN trace_parent TEXT;`,
  },
  {
    version: 8,
    name: 'settings (alert rules set through the API)',
    up: `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);`,
  },
  {
    version: 9,
    name: 'generated summaries of runs',
    up: `ALTER TABLE runs ADD COLUMN summary TEXT;`,
  },
]

/** The store's domain, for the driver's migrator. */
export const STORE_DOMAIN = defineDomain('store', SQLITE_MIGRATIONS)
