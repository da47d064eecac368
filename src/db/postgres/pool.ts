import type pgModule from 'pg'
import type { Pool, PoolClient, PoolConfig } from 'pg'
import { FlotillaError } from '../../core/errors.js'
import { connectError } from './errors.js'
import { sessionOptions, type ResolvedPostgresOptions } from './options.js'

/** How {@link openPool} sets up a pool for one kind of PostgreSQL-backed part. */
export interface PoolSetup {
  /** What needs PostgreSQL, for messages: `store`, `context store`. */
  readonly what: string
  /** `application_name` of its connections. */
  readonly applicationName: string
  /** Brings the schema up to date on one connection (migrations, tables); a throw ends the pool. */
  readonly prepare: (client: PoolClient) => Promise<void>
}

type GetTypeParser = typeof pgModule.types.getTypeParser

/** The type parsers of a query that reads json and jsonb as raw text (passed per query, so one pool serves every part). */
export interface RawJsonTypes {
  getTypeParser: GetTypeParser
}

/**
 * json and jsonb as raw text: the run store's codec parses it, telling SQL
 * NULL (`undefined`) from JSON `null`. Given per query (`types`), so the
 * pool stays plain and can be shared with the bus and the context store.
 */
export async function rawJsonTypes(): Promise<RawJsonTypes> {
  const fallback = (await loadPg('store')).types.getTypeParser
  const raw = (value: string): string => value
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 114 || oid === 3802 ? raw : fallback(oid, format)) as GetTypeParser,
  }
}

/** Loads the optional `pg` package, or `STORE_UNAVAILABLE` saying how to install it. */
export async function loadPg(what: string): Promise<typeof pgModule> {
  try {
    return (await import('pg')).default
  } catch (err) {
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `The PostgreSQL ${what} needs the package "pg": install it with \`npm install pg\`.`,
      { cause: err, details: { package: 'pg' }, retryable: false },
    )
  }
}

/**
 * Loads `pg`, opens a pool with the resolved options, and runs `prepare` on
 * one connection; any failure ends the pool and is reported as
 * `STORE_UNAVAILABLE` (pg missing, server unreachable), `STORE_URL_INVALID`,
 * or what `prepare` threw (`STORE_NOT_FLOTILLA`, `STORE_SCHEMA_TOO_NEW`…).
 * Shared by every part on PostgreSQL (store, context, bus, `openBackend`).
 *
 * @example
 * ```ts
 * const pool = await openPool(o, where, { what: 'store', applicationName: 'flotilla', prepare: async () => undefined })
 * ```
 */
export async function openPool(o: ResolvedPostgresOptions, where: string, setup: PoolSetup): Promise<Pool> {
  const pg = await loadPg(setup.what)
  const startup = sessionOptions(o)
  const config: PoolConfig = {
    connectionString: o.url,
    max: o.poolSize,
    connectionTimeoutMillis: o.connectTimeoutMs,
    application_name: setup.applicationName,
    ...(startup === undefined ? {} : { options: startup }),
  }
  let pool: Pool
  try {
    pool = new pg.Pool(config)
  } catch (err) {
    throw new FlotillaError(
      'STORE_URL_INVALID',
      `The PostgreSQL ${setup.what} URL for ${where} cannot be used: ${err instanceof Error ? err.message : String(err)}.`,
      { cause: err },
    )
  }
  // An idle connection that drops reports here; the next query opens a new one.
  pool.on('error', () => undefined)
  try {
    await preparePool(pool, where, setup.prepare, setup.what)
  } catch (err) {
    await pool.end().catch(() => undefined)
    throw err
  }
  return pool
}

/**
 * Runs `prepare` (migrations) on one connection of a pool, which may be
 * shared by several parts; failures are reported like {@link openPool}'s,
 * and the pool is left open.
 *
 * @param what What needs PostgreSQL, for messages: `store`, `bus`, `context store`.
 *
 * @example
 * ```ts
 * await preparePool(pool, where, (client) => migrate(client, schema, where, [STORE_DOMAIN]))
 * ```
 */
export async function preparePool(
  pool: Pool,
  where: string,
  prepare: (client: PoolClient) => Promise<void>,
  what = 'store',
): Promise<void> {
  try {
    const client = await pool.connect()
    try {
      await prepare(client)
    } finally {
      client.release()
    }
  } catch (err) {
    throw connectError(err, where, what)
  }
}
