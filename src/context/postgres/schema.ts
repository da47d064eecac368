import { defineDomain } from '../../db/migrations.js'
import type { PostgresStep } from '../../db/postgres/migrate.js'

/**
 * The tables of the context store in a PostgreSQL schema (the schema of the
 * Flotilla store). All are prefixed `flotilla_ctx_`; they mirror the SQLite
 * ones (see `SQLITE_CONTEXT_SCHEMA`). Ids sort byte-wise (`COLLATE "C"`), as
 * in SQLite and in memory; times are wall-clock ms as `double precision`;
 * metadata and tags are JSON text. Each statement creates only what is
 * absent: Flotilla 0.1 created these tables on every connect, without a
 * version, so this baseline migration accepts them as they are.
 *
 * @param s The quoted schema name.
 */
function contextTables(s: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${s}.flotilla_ctx_artifacts (
  id text COLLATE "C" PRIMARY KEY,
  latest integer NOT NULL,
  expires_at double precision
);
CREATE INDEX IF NOT EXISTS flotilla_ctx_artifacts_by_expiry ON ${s}.flotilla_ctx_artifacts (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${s}.flotilla_ctx_versions (
  id text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  encoding text NOT NULL CHECK (encoding IN ('json', 'bytes')),
  content_hash text COLLATE "C" NOT NULL,
  size integer NOT NULL,
  metadata text NOT NULL,
  tags text NOT NULL,
  created_by text NOT NULL,
  created_at double precision NOT NULL,
  based_on integer,
  run_id text,
  task_id text,
  expires_at double precision,
  PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS ${s}.flotilla_ctx_blobs (
  hash text COLLATE "C" PRIMARY KEY,
  data bytea NOT NULL,
  refs integer NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.flotilla_ctx_cache (
  key text COLLATE "C" PRIMARY KEY,
  value text NOT NULL,
  expires_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS flotilla_ctx_cache_by_expiry ON ${s}.flotilla_ctx_cache (expires_at);
`
}

/**
 * The context store's domain for the driver's migrator: its migrations,
 * oldest first (version 1 is the baseline of Flotilla 0.1's tables).
 */
export const CONTEXT_DOMAIN = defineDomain<PostgresStep>('context', [
  { version: 1, name: 'artifacts, versions, blobs, cache', up: contextTables },
])

/** The first key of the context store's advisory locks (the second is a hash of schema and artifact id). */
export const CONTEXT_LOCK_KEY = 1718383469
