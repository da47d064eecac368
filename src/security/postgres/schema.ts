import { defineDomain } from '../../db/migrations.js'
import type { PostgresStep } from '../../db/postgres/migrate.js'

/**
 * The tables of the security domain in a PostgreSQL schema (the schema of
 * the Flotilla store); they mirror the SQLite ones (`SQLITE_SECURITY_SCHEMA`).
 * Times are wall-clock ms as `double precision`; JSON (a key's scopes, an
 * audit entry's details) is `text`, `NULL` for `null`, kept exactly as
 * written; ids and names compare byte-wise (`COLLATE "C"`).
 *
 * @param s The quoted schema name.
 */
function securityTables(s: string): string {
  return `
CREATE TABLE ${s}.flotilla_api_keys (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  scopes text,
  hash text NOT NULL,
  previous_hash text,
  previous_valid_until double precision,
  created_by text NOT NULL,
  created_at double precision NOT NULL,
  expires_at double precision,
  revoked_at double precision,
  rotated_at double precision,
  last_used_at double precision
);
CREATE TABLE ${s}.flotilla_blocks (
  target text COLLATE "C" PRIMARY KEY,
  reason text NOT NULL,
  created_at double precision NOT NULL,
  "until" double precision NOT NULL,
  created_by text NOT NULL
);
CREATE INDEX flotilla_blocks_by_until ON ${s}.flotilla_blocks ("until");
CREATE TABLE ${s}.flotilla_audit (
  seq bigint PRIMARY KEY,
  at double precision NOT NULL,
  actor text COLLATE "C" NOT NULL,
  action text COLLATE "C" NOT NULL,
  resource text COLLATE "C" NOT NULL,
  outcome text NOT NULL,
  request_id text,
  details text,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX flotilla_audit_by_actor ON ${s}.flotilla_audit (actor, seq);
CREATE INDEX flotilla_audit_by_action ON ${s}.flotilla_audit (action, seq);
CREATE INDEX flotilla_audit_by_resource ON ${s}.flotilla_audit (resource, seq);
CREATE INDEX flotilla_audit_by_at ON ${s}.flotilla_audit (at);
`
}

/**
 * The security domain for the PostgreSQL migrator: API keys, blocks and the
 * audit log, oldest migration first.
 */
export const SECURITY_DOMAIN = defineDomain<PostgresStep>('security', [
  { version: 1, name: 'api keys, blocks, audit log', up: securityTables },
])

/**
 * The first key of the audit log's advisory lock; the second is
 * `hashtext(schema)`, so each schema's log has a lock of its own (beside the
 * migrator's 1718383468 and the context store's 1718383469).
 */
export const AUDIT_LOCK_KEY = 1718383470
