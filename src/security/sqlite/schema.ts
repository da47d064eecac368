import { defineDomain } from '../../db/migrations.js'

/**
 * The tables of the security domain in an SQLite file, beside the store's
 * (`.flotilla/flotilla.db`). Times are ms since the epoch (INTEGER); JSON
 * (a key's scopes, an audit entry's details) is TEXT, `NULL` for `null`.
 *
 * - `flotilla_api_keys`: one row per API key (never the secret: its SHA-256,
 *   and the hash a rotation replaced with the end of its grace period).
 * - `flotilla_blocks`: one row per blocked key or address, until it ends.
 * - `flotilla_audit`: the hash-chained audit log, numbered 1..n (`seq`), with
 *   indexes for the filters of a query (actor, action, resource, time).
 */
export const SQLITE_SECURITY_SCHEMA = `
CREATE TABLE flotilla_api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  scopes TEXT,
  hash TEXT NOT NULL,
  previous_hash TEXT,
  previous_valid_until INTEGER,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  rotated_at INTEGER,
  last_used_at INTEGER
);
CREATE TABLE flotilla_blocks (
  target TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  "until" INTEGER NOT NULL,
  created_by TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX flotilla_blocks_by_until ON flotilla_blocks ("until");
CREATE TABLE flotilla_audit (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  resource TEXT NOT NULL,
  outcome TEXT NOT NULL,
  request_id TEXT,
  details TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX flotilla_audit_by_actor ON flotilla_audit (actor, seq);
CREATE INDEX flotilla_audit_by_action ON flotilla_audit (action, seq);
CREATE INDEX flotilla_audit_by_resource ON flotilla_audit (resource, seq);
CREATE INDEX flotilla_audit_by_at ON flotilla_audit (at);
`

/**
 * The security domain for the SQLite migrator: API keys, blocks and the
 * audit log, oldest migration first.
 */
export const SECURITY_DOMAIN = defineDomain('security', [
  { version: 1, name: 'api keys, blocks, audit log', up: SQLITE_SECURITY_SCHEMA },
])
