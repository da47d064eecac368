import { FlotillaError } from '../../core/errors.js'
import {
  LEGACY_DOMAIN,
  orderDomains,
  planMigrations,
  type DomainName,
  type Migration,
  type MigrationDomain,
} from '../migrations.js'
import { quoteIdent } from './ident.js'

/** Builds the SQL of a PostgreSQL migration: `s` is the quoted schema (`"flotilla"`), `schema` its name. */
export type PostgresStep = (s: string, schema: string) => string

/** One migration of a PostgreSQL domain. */
export type PostgresMigration = Migration<PostgresStep>

/** The migrations of one domain on PostgreSQL (`defineDomain(name, migrations)`). */
export type PostgresDomain = MigrationDomain<PostgresStep>

/** The one method of a driver connection the migrator uses. */
export interface SqlSession {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

/** What {@link migrate} found and did. */
export interface MigrationOutcome {
  /** Each domain's version before this call (0: its tables were new). */
  from: Partial<Record<DomainName, number>>
  /** The migrations applied by this call, in order (empty when up to date). */
  applied: { domain: DomainName; version: number }[]
}

/** The product name written in `flotilla_meta`: the mark of a Flotilla schema. */
export const PRODUCT = 'flotilla'

/** The advisory lock of the migrator, with `hashtext(schema)`: Flotilla 0.1's store took it too, so the two never migrate one schema at once. */
const LOCK_KEY = 1718383468

/**
 * The mark and the version table. `flotilla_meta.schema_version` mirrors the
 * store's version, which is what Flotilla 0.1 reads (so a 0.1 process
 * refuses a schema a newer store wrote); `flotilla_migrations` holds one row
 * per domain and version applied.
 */
const ledger = (s: string): string => `
CREATE TABLE IF NOT EXISTS ${s}.flotilla_meta (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  product text NOT NULL,
  schema_version integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ${s}.flotilla_migrations (
  domain text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain, version)
);
`

/** Flotilla 0.1's version table (no domain column) rebuilt in the layout above, its rows filed under the legacy domain. */
const upgradeLedger = (s: string): string => `
ALTER TABLE ${s}.flotilla_migrations RENAME TO flotilla_migrations_0_1;
ALTER INDEX ${s}.flotilla_migrations_pkey RENAME TO flotilla_migrations_0_1_pkey;
${ledger(s)}
INSERT INTO ${s}.flotilla_migrations (domain, version, name, applied_at)
  SELECT '${LEGACY_DOMAIN}', version, name, applied_at FROM ${s}.flotilla_migrations_0_1;
DROP TABLE ${s}.flotilla_migrations_0_1;
`

/** What the schema holds, read under the lock. */
interface Found {
  exists: boolean
  has_meta: boolean
  has_ledger: boolean
  ledger_has_domain: boolean
  /** Tables, indexes, sequences and functions whose names do not start with `flotilla_`. */
  foreign: number
}

/**
 * Brings the tables of `domains` in `schema` up to date, in one transaction
 * holding the schema's advisory lock, so parallel opens apply each migration
 * once. Each domain has its own versions in `flotilla_migrations`; a schema
 * written by Flotilla 0.1 (a version table without a domain column) is
 * upgraded in place. Refuses, changing nothing: a schema holding other
 * programs' objects but no Flotilla mark when a domain is exclusive
 * (`STORE_NOT_FLOTILLA`), and one where a domain's stored version is newer
 * than this code's (`STORE_SCHEMA_TOO_NEW`).
 *
 * @param where The redacted target, for messages.
 *
 * @example
 * ```ts
 * await migrate(client, 'flotilla', 'postgres@db:5432/app', [STORE_DOMAIN])
 * ```
 */
export async function migrate(
  session: SqlSession,
  schema: string,
  where: string,
  domains: readonly PostgresDomain[],
): Promise<MigrationOutcome> {
  const s = quoteIdent(schema)
  const place = `${where} (schema "${schema}")`
  await session.query('BEGIN')
  try {
    await session.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY}, hashtext($1))`, [schema])
    const found = await inspect(session, schema, s)
    let marked = false
    let legacyVersion = 0
    if (found.has_meta) {
      const meta = (await session.query(`SELECT product, schema_version FROM ${s}.flotilla_meta`)).rows[0] as
        | { product: string; schema_version: number }
        | undefined
      if (meta !== undefined && meta.product !== PRODUCT)
        throw notFlotilla(schema, where, 'its flotilla_meta table does not describe a Flotilla store')
      marked = meta !== undefined
      legacyVersion = meta?.schema_version ?? 0
    }
    if (!marked && found.foreign > 0 && domains.some((d) => d.exclusive)) {
      throw notFlotilla(
        schema,
        where,
        `it holds ${found.foreign} tables, functions or other objects but no Flotilla mark (a flotilla_meta row)`,
      )
    }
    const applied = found.has_ledger ? await readLedger(session, s, found.ledger_has_domain) : new Map()
    const plans = orderDomains(domains).map((d) => {
      const done = applied.get(d.name) ?? []
      // A schema whose flotilla_meta says a newer store version than the code knows is refused too.
      const check = d.name === LEGACY_DOMAIN && legacyVersion > d.migrations.length ? [...done, legacyVersion] : done
      return { domain: d, from: Math.max(0, ...done), todo: planMigrations(d, check, place) }
    })
    const outcome: MigrationOutcome = { from: {}, applied: [] }
    for (const p of plans) outcome.from[p.domain.name] = p.from
    const mark = !marked && found.foreign === 0
    if (plans.every((p) => p.todo.length === 0) && found.ledger_has_domain && !mark) {
      await session.query('COMMIT')
      return outcome
    }
    if (!found.exists) await session.query(`CREATE SCHEMA ${s}`)
    await session.query(found.has_ledger && !found.ledger_has_domain ? upgradeLedger(s) : ledger(s))
    if (mark) {
      const store = Math.max(0, ...(applied.get(LEGACY_DOMAIN) ?? []))
      await session.query(`INSERT INTO ${s}.flotilla_meta (product, schema_version) VALUES ($1, $2)`, [PRODUCT, store])
    }
    for (const { domain, todo } of plans) {
      for (const m of todo) {
        await session.query(m.up(s, schema))
        await session.query(`INSERT INTO ${s}.flotilla_migrations (domain, version, name) VALUES ($1, $2, $3)`, [
          domain.name,
          m.version,
          m.name,
        ])
        outcome.applied.push({ domain: domain.name, version: m.version })
      }
      if (domain.name === LEGACY_DOMAIN && todo.length > 0) {
        await session.query(`UPDATE ${s}.flotilla_meta SET schema_version = $1, updated_at = now()`, [
          domain.migrations.length,
        ])
      }
    }
    await session.query('COMMIT')
    return outcome
  } catch (err) {
    await session.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}

async function inspect(session: SqlSession, schema: string, s: string): Promise<Found> {
  const { rows } = await session.query(
    `SELECT n.oid IS NOT NULL AS exists,
            to_regclass($2) IS NOT NULL AS has_meta,
            to_regclass($3) IS NOT NULL AS has_ledger,
            EXISTS (SELECT 1 FROM pg_attribute a
                     WHERE a.attrelid = to_regclass($3) AND a.attname = 'domain' AND NOT a.attisdropped) AS ledger_has_domain,
            (SELECT count(*)::int FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname NOT LIKE 'flotilla\\_%')
              + (SELECT count(*)::int FROM pg_proc p WHERE p.pronamespace = n.oid AND p.proname NOT LIKE 'flotilla\\_%') AS foreign
       FROM (SELECT $1::name AS nm) q LEFT JOIN pg_namespace n ON n.nspname = q.nm`,
    [schema, `${s}.flotilla_meta`, `${s}.flotilla_migrations`],
  )
  const found = rows[0] as unknown as Found
  return { ...found, foreign: found.foreign ?? 0 }
}

/** The versions applied per domain; a 0.1 table (no domain column) holds the legacy domain's. */
async function readLedger(session: SqlSession, s: string, hasDomain: boolean): Promise<Map<string, number[]>> {
  const { rows } = await session.query(
    hasDomain
      ? `SELECT domain, version FROM ${s}.flotilla_migrations`
      : `SELECT '${LEGACY_DOMAIN}' AS domain, version FROM ${s}.flotilla_migrations`,
  )
  const applied = new Map<string, number[]>()
  for (const r of rows as { domain: string; version: number }[]) {
    const list = applied.get(r.domain) ?? []
    list.push(r.version)
    applied.set(r.domain, list)
  }
  return applied
}

function notFlotilla(schema: string, where: string, why: string): FlotillaError {
  return new FlotillaError(
    'STORE_NOT_FLOTILLA',
    `Schema "${schema}" of the PostgreSQL database ${where} is not a Flotilla store: ${why}. Choose another schema (the "schema" option) or database; nothing was created.`,
    { details: { schema, reason: why } },
  )
}
