import type { Pool } from 'pg'
import { migrate, type SqlSession } from '../../db/postgres/migrate.js'
import { loadPg, preparePool } from '../../db/postgres/pool.js'
import { BUS_DOMAIN } from './schema.js'
import type { ResolvedBusOptions } from './options.js'

/*
 * The connections of the PostgreSQL bus: the pool it opens when it is given
 * none, and the `bus` domain's tables brought up to date on it. The LISTEN
 * connection is the `Listener`'s.
 */

/** A pool of the bus's own on `o.url` (application name `flotilla-bus`), for a bus given no pool. */
export async function newBusPool(o: ResolvedBusOptions): Promise<Pool> {
  const pg = await loadPg('bus')
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.poolSize,
    connectionTimeoutMillis: o.connectTimeoutMs,
    application_name: 'flotilla-bus',
    ...(o.startupOptions === undefined ? {} : { options: o.startupOptions }),
  })
  // An idle connection that drops reports here; the next query opens a new one.
  pool.on('error', () => undefined)
  return pool
}

/** Brings the bus tables up to date (the `bus` domain's migrations, under the migrator's lock). */
export async function createTables(pool: Pool, schema: string, where: string): Promise<void> {
  await preparePool(
    pool,
    where,
    async (client) => {
      await migrate(client as SqlSession, schema, where, [BUS_DOMAIN])
    },
    'bus',
  )
}
