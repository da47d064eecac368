import { FlotillaError } from '../../core/errors.js'
import { quoteIdent } from '../../db/postgres/ident.js'
import { MIGRATIONS, PRODUCT, SCHEMA_VERSION } from './schema.js'

/** The one method of a driver connection the migrator uses. */
export interface SqlSession {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

/** What {@link migrate} found and did. */
export interface MigrationOutcome {
  /** The schema version before this connect (0: the schema was new or empty). */
  from: number
  /** Versions applied by this connect, oldest first (empty when up to date). */
  applied: number[]
}

/**
 * Brings `schema` to {@link SCHEMA_VERSION} in one transaction under a
 * transaction-scoped advisory lock, so parallel connects apply each
 * migration once. Refuses a schema that holds other objects but no
 * `flotilla_meta` (`STORE_NOT_FLOTILLA`, creating nothing; the bus's own
 * `flotilla_bus_*` tables may be there already) and one written
 * by a newer version (`STORE_SCHEMA_TOO_NEW`).
 */
export async function migrate(session: SqlSession, schema: string, where: string): Promise<MigrationOutcome> {
  const s = quoteIdent(schema)
  await session.query('BEGIN')
  try {
    // One lock key per schema; a stable key from the name (hashtext is stable across servers of one major version).
    await session.query(`SELECT pg_advisory_xact_lock(1718383468, hashtext($1))`, [schema])
    const { rows } = await session.query(
      `SELECT n.oid IS NOT NULL AS exists,
              to_regclass($2) IS NOT NULL AS has_meta,
              (SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname NOT LIKE 'flotilla\\_bus\\_%')
                + (SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = n.oid AND p.proname NOT LIKE 'flotilla\\_bus\\_%') AS objects
         FROM (SELECT $1::name AS nm) q LEFT JOIN pg_namespace n ON n.nspname = q.nm`,
      [schema, `${s}.flotilla_meta`],
    )
    const found = rows[0] as { exists: boolean; has_meta: boolean; objects: number }
    let from = 0
    if (found.has_meta) {
      const meta = (await session.query(`SELECT product, schema_version FROM ${s}.flotilla_meta`)).rows[0] as
        | { product: string; schema_version: number }
        | undefined
      if (meta === undefined || meta.product !== PRODUCT)
        throw notFlotilla(schema, where, 'its flotilla_meta table does not describe a Flotilla store')
      from = meta.schema_version
      if (from > SCHEMA_VERSION) {
        throw new FlotillaError(
          'STORE_SCHEMA_TOO_NEW',
          `The PostgreSQL store at ${where} (schema "${schema}") has schema version ${from}, newer than the version ${SCHEMA_VERSION} this Flotilla knows. Upgrade Flotilla to use it; nothing was changed.`,
          { details: { schema, storedVersion: from, supportedVersion: SCHEMA_VERSION } },
        )
      }
    } else if (found.exists && found.objects > 0) {
      throw notFlotilla(
        schema,
        where,
        `it holds ${found.objects} tables, functions or other objects but no flotilla_meta table`,
      )
    }
    const applied: number[] = []
    if (!found.exists) await session.query(`CREATE SCHEMA ${s}`)
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue
      await session.query(m.up(s))
      await session.query(`INSERT INTO ${s}.flotilla_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name])
      applied.push(m.version)
    }
    if (applied.length > 0) {
      await session.query(
        `INSERT INTO ${s}.flotilla_meta (product, schema_version) VALUES ($1, $2)
           ON CONFLICT (singleton) DO UPDATE SET schema_version = EXCLUDED.schema_version, updated_at = now()`,
        [PRODUCT, SCHEMA_VERSION],
      )
    }
    await session.query('COMMIT')
    return { from, applied }
  } catch (err) {
    await session.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}

function notFlotilla(schema: string, where: string, why: string): FlotillaError {
  return new FlotillaError(
    'STORE_NOT_FLOTILLA',
    `Schema "${schema}" of the PostgreSQL database ${where} is not a Flotilla store: ${why}. Choose another schema (the "schema" option) or database; nothing was created.`,
    { details: { schema, reason: why } },
  )
}
