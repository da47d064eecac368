import type { Pool, PoolClient } from 'pg'
import { FlotillaError } from '../../core/errors.js'
import { connectError, sqlError } from '../../db/postgres/errors.js'
import { quoteIdent } from '../../db/postgres/ident.js'
import { migrate, type SqlSession } from '../../db/postgres/migrate.js'
import { describeTarget, resolvePostgresOptions, type PostgresStoreOptions } from '../../db/postgres/options.js'
import { openPool, preparePool } from '../../db/postgres/pool.js'
import { SECURITY_DOMAIN } from './schema.js'

/**
 * Options of `PostgresSecurityStore.connect` and `PostgresAuditLogStore.connect`:
 * those of the PostgreSQL store (`schema`, default `flotilla`; `poolSize`,
 * default 10; `synchronousCommit`; `connectTimeoutMs`). The schema may also
 * come from the URL (`?schema=…`).
 */
export type PostgresSecurityOptions = PostgresStoreOptions

/** A row as `pg` returns it. */
export type Row = Record<string, unknown>

/**
 * A pool (its own, or one shared with the other parts of a backend) holding
 * the security tables of one schema, shared by the PostgreSQL security
 * adapters: migrates the `security` domain, maps driver errors to the
 * port's codes, and refuses use after `close`.
 */
export class SecurityPool {
  private closed = false
  private closing: Promise<void> | undefined

  private constructor(
    private readonly pool: Pool,
    /** The PostgreSQL schema holding the tables. */
    readonly schema: string,
    /** The redacted target, for messages. */
    readonly where: string,
    private readonly ownsPool: boolean,
    private readonly what: string,
  ) {}

  /**
   * Connects a pool of its own and brings the security tables up to date.
   * `STORE_URL_INVALID`, `VALIDATION_FAILED` (options), `STORE_UNAVAILABLE`,
   * `STORE_NOT_FLOTILLA`, `STORE_SCHEMA_TOO_NEW`.
   *
   * @param what The adapter, for messages: `security store`, `audit log`.
   */
  static async connect(url: string, options: PostgresSecurityOptions, what: string): Promise<SecurityPool> {
    const o = resolvePostgresOptions(url, options)
    const where = describeTarget(o.target)
    const pool = await openPool(o, where, {
      what,
      applicationName: 'flotilla-security',
      prepare: (client) => prepareSecurityTables(client, o.schema, where),
    })
    return new SecurityPool(pool, o.schema, where, true, what)
  }

  /** On a pool shared with other parts (`openBackend`): migrates on one of its connections; `close` leaves it open. */
  static async onPool(pool: Pool, schema: string, where: string, what: string): Promise<SecurityPool> {
    await preparePool(pool, where, (client) => prepareSecurityTables(client, schema, where), what)
    return new SecurityPool(pool, schema, where, false, what)
  }

  /** The quoted name of a table of the schema. */
  table(name: 'flotilla_api_keys' | 'flotilla_blocks' | 'flotilla_audit'): string {
    return `${quoteIdent(this.schema)}.${name}`
  }

  /** Runs one statement on the pool. */
  async query(text: string, values: unknown[]): Promise<Row[]> {
    this.assertOpen()
    try {
      return (await this.pool.query(text, values)).rows as Row[]
    } catch (err) {
      throw sqlError(err, this.where, this.what)
    }
  }

  /** Runs `fn` in a transaction on one connection; rolled back when `fn` throws. */
  async transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen()
    let client: PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw connectError(err, this.where, this.what)
    }
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw sqlError(err, this.where, this.what)
    } finally {
      client.release()
    }
  }

  /** Ends the pool (unless shared), after the queries in flight. Later calls fail with `STORE_UNAVAILABLE`. */
  async close(): Promise<void> {
    this.closed = true
    this.closing ??= this.ownsPool ? this.pool.end().catch(() => undefined) : Promise.resolve()
    await this.closing
  }

  private assertOpen(): void {
    if (this.closed)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The PostgreSQL ${this.what} at ${this.where} was closed; connect a new one.`,
        { details: { target: this.where }, retryable: false },
      )
  }
}

/** Brings the security tables up to date (the `security` domain's migrations, under the migrator's lock). */
async function prepareSecurityTables(client: PoolClient, schema: string, where: string): Promise<void> {
  await migrate(client as SqlSession, schema, where, [SECURITY_DOMAIN])
}

/** `JSON.stringify` of a value that may be `null` (SQL NULL). */
export function jsonText(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value)
}
