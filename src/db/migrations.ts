import { FlotillaError } from '../core/errors.js'

/**
 * The migration domains: each part of Flotilla that keeps tables of its own
 * has its own numbered migrations (1, 2, 3…), recorded in the one version
 * table (`flotilla_migrations`, keyed by domain and version) of the database.
 * The migrator applies the domains it is given in this order. Registering a
 * domain is one line here (as `'security'` was), then the part defines its
 * list with {@link defineDomain} and passes it to its engine's `migrate`.
 */
export const DOMAIN_NAMES = ['store', 'context', 'bus', 'security'] as const

/** A registered migration domain: `store`, `context`, `bus`, `security` (API keys, blocks, the audit log). */
export type DomainName = (typeof DOMAIN_NAMES)[number]

/**
 * The domain whose versions Flotilla 0.1 recorded in a version table without
 * a domain column (its run store); the migrator files them under this domain
 * when it upgrades that table in place.
 */
export const LEGACY_DOMAIN: DomainName = 'store'

/** Every table, index, sequence and function Flotilla creates outside the store's own starts with this. */
export const FLOTILLA_PREFIX = 'flotilla_'

/**
 * One versioned change of a domain's tables. Versions start at 1 and go up by
 * one; a database records each version it applied, once, and never applies
 * an older one again. Driver-free: `up` is whatever the engine runs (SQL
 * text for SQLite, a function of the quoted schema for PostgreSQL).
 *
 * @example
 * ```ts
 * const first: Migration = { version: 1, name: 'initial', up: 'CREATE TABLE runs (...)' }
 * ```
 */
export interface Migration<Step = string> {
  /** 1, 2, 3… in order. */
  readonly version: number
  /** A short name, recorded beside the version. */
  readonly name: string
  /** The change to apply. */
  readonly up: Step
}

/** The ordered migrations of one domain on one engine; make it with {@link defineDomain}. */
export interface MigrationDomain<Step = string> {
  /** The domain, one of {@link DOMAIN_NAMES}. */
  readonly name: DomainName
  /** Every migration, oldest first, numbered 1..n. The last version is the one this code writes. */
  readonly migrations: readonly Migration<Step>[]
  /**
   * Whether the domain needs a schema (or file) that is Flotilla's: `true`
   * refuses one holding other programs' tables (`STORE_NOT_FLOTILLA`, creating
   * nothing). `false` suits a domain whose objects all start with
   * {@link FLOTILLA_PREFIX} and may live in a shared schema (the bus).
   */
  readonly exclusive: boolean
}

/**
 * Defines a domain's migration list, checking it is numbered 1..n (`INTERNAL`
 * otherwise: a mistake in the code, found at load).
 *
 * @example
 * ```ts
 * export const CONTEXT_DOMAIN = defineDomain('context', [{ version: 1, name: 'artifacts, cache', up: ddl }])
 * ```
 */
export function defineDomain<Step>(
  name: DomainName,
  migrations: readonly Migration<Step>[],
  options: { exclusive?: boolean } = {},
): MigrationDomain<Step> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new FlotillaError(
        'INTERNAL',
        `The ${name} migrations must be numbered 1..n; found version ${m.version} at position ${i + 1}.`,
        { details: { domain: name, version: m.version } },
      )
    }
  })
  return { name, migrations, exclusive: options.exclusive ?? true }
}

/**
 * The migrations of `domain` still to apply, oldest first, given the
 * versions the database recorded for it. Throws `STORE_SCHEMA_TOO_NEW` when
 * the database was written by a newer Flotilla (it holds a version of the
 * domain this code does not know), naming both versions.
 *
 * @param where Where the database lives, for messages (a file path, or a redacted URL and schema).
 *
 * @example
 * ```ts
 * for (const m of planMigrations(STORE_DOMAIN, [1, 2], 'flotilla.db')) apply(m)
 * ```
 */
export function planMigrations<Step>(
  domain: MigrationDomain<Step>,
  applied: Iterable<number>,
  where: string,
): Migration<Step>[] {
  const known = domain.migrations.length
  const done = new Set(applied)
  let newest = 0
  for (const v of done) newest = Math.max(newest, v)
  if (newest > known) {
    throw new FlotillaError(
      'STORE_SCHEMA_TOO_NEW',
      `The ${domain.name} tables of ${where} have schema version ${newest}, but this Flotilla knows ${domain.name} versions up to ${known}. Upgrade Flotilla to use this database, or point it elsewhere; nothing was changed.`,
      { details: { store: where, domain: domain.name, storedVersion: newest, supportedVersion: known } },
    )
  }
  return domain.migrations.filter((m) => !done.has(m.version))
}

/**
 * The domains in registration order ({@link DOMAIN_NAMES}), each once;
 * `INTERNAL` for two different lists under one name.
 *
 * @example
 * ```ts
 * for (const d of orderDomains([CONTEXT_DOMAIN, STORE_DOMAIN])) migrateOne(d) // store, then context
 * ```
 */
export function orderDomains<D extends MigrationDomain<unknown>>(domains: readonly D[]): D[] {
  const byName = new Map<DomainName, D>()
  for (const d of domains) {
    const seen = byName.get(d.name)
    if (seen !== undefined && seen !== d) {
      throw new FlotillaError('INTERNAL', `Two migration lists are registered for the domain "${d.name}".`, {
        details: { domain: d.name },
      })
    }
    byName.set(d.name, d)
  }
  return DOMAIN_NAMES.flatMap((n) => byName.get(n) ?? [])
}
