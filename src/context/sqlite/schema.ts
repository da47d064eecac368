import { defineDomain } from '../../db/migrations.js'

/**
 * The tables of the context store in an SQLite file, beside the tables of the
 * Flotilla store, so both can share `.flotilla/flotilla.db`. All are prefixed
 * `flotilla_ctx_`. Each statement creates only what is absent: Flotilla 0.1
 * created these tables on every open, without a version, so this baseline
 * migration accepts them as they are.
 *
 * - `artifacts`: one row per artifact, its head (latest version, expiry).
 * - `versions`: the kept versions with lineage, unique on (id, version).
 * - `blobs`: each distinct content once, keyed by its SHA-256, with the number
 *   of versions referencing it; a blob at zero references is deleted.
 * - `cache`: the shared cache (JSON text, expiry).
 */
export const SQLITE_CONTEXT_SCHEMA = `
CREATE TABLE IF NOT EXISTS flotilla_ctx_artifacts (
  id TEXT PRIMARY KEY,
  latest INTEGER NOT NULL,
  expires_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS flotilla_ctx_artifacts_by_expiry ON flotilla_ctx_artifacts (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS flotilla_ctx_versions (
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  encoding TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  tags TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at REAL NOT NULL,
  based_on INTEGER,
  run_id TEXT,
  task_id TEXT,
  expires_at REAL,
  PRIMARY KEY (id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flotilla_ctx_blobs (
  hash TEXT PRIMARY KEY,
  data BLOB NOT NULL,
  refs INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS flotilla_ctx_cache (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS flotilla_ctx_cache_by_expiry ON flotilla_ctx_cache (expires_at);
`

/**
 * The context store's domain for the driver's migrator: its migrations,
 * oldest first (version 1 is the baseline of Flotilla 0.1's tables).
 */
export const CONTEXT_DOMAIN = defineDomain('context', [
  { version: 1, name: 'artifacts, versions, blobs, cache', up: SQLITE_CONTEXT_SCHEMA },
])
