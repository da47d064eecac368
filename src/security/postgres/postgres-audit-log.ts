import { AUDIT_DETAILS } from '../columns.js'
import type { Pool } from 'pg'
import { toFlotillaError } from '../../core/errors.js'
import type { AuditEntry, AuditFilter, AuditLogStore, AuditOutcome } from '../audit.js'
import { jsonText, SecurityPool, type PostgresSecurityOptions, type Row } from './connection.js'
import { AUDIT_LOCK_KEY } from './schema.js'

const COLUMNS = 'seq, at, actor, action, resource, outcome, request_id, details, prev_hash, hash'
const WHAT = 'audit log'

/**
 * The audit log in PostgreSQL, in the schema of the Flotilla store. `append`
 * runs in one transaction holding `pg_advisory_xact_lock` on a key of this
 * schema's log: it reads the last entry, builds the next and inserts it
 * before the lock is released at commit, so every server process on the
 * database appends to one chain, numbered 1..n without gaps. Needs the
 * optional peer dependency `pg`.
 *
 * @example
 * ```ts
 * const audit = new AuditLog(await PostgresAuditLogStore.connect('postgres://flotilla@db:5432/app'))
 * ```
 */
export class PostgresAuditLogStore implements AuditLogStore {
  private readonly table: string

  private constructor(private readonly db: SecurityPool) {
    this.table = db.table('flotilla_audit')
  }

  /** The PostgreSQL schema holding the tables. */
  get schema(): string {
    return this.db.schema
  }

  /**
   * Connects (a pool of its own) and brings the security tables up to date.
   * Fails like `PostgresSecurityStore.connect`.
   *
   * @example
   * ```ts
   * const log = await PostgresAuditLogStore.connect(process.env.DATABASE_URL!, { schema: 'flotilla' })
   * ```
   */
  static async connect(url: string, options: PostgresSecurityOptions = {}): Promise<PostgresAuditLogStore> {
    return new PostgresAuditLogStore(await SecurityPool.connect(url, options, WHAT))
  }

  /**
   * The log on a pool shared with other parts (`openBackend`): brings the
   * schema up to date on one of its connections; `close()` leaves the pool
   * open. Fails like {@link PostgresAuditLogStore.connect}.
   */
  static async onPool(pool: Pool, schema: string, where: string): Promise<PostgresAuditLogStore> {
    return new PostgresAuditLogStore(await SecurityPool.onPool(pool, schema, where, WHAT))
  }

  async append(build: (last: AuditEntry | undefined) => AuditEntry): Promise<AuditEntry> {
    return this.db.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AUDIT_LOCK_KEY, this.db.schema])
      const { rows } = await c.query(`SELECT ${COLUMNS} FROM ${this.table} ORDER BY seq DESC LIMIT 1`)
      let entry: AuditEntry
      try {
        entry = build(rows.length === 0 ? undefined : entryFromRow(rows[0] as Row))
      } catch (e) {
        // A failure of `build` is the caller's, not the database's: never reported as STORE_UNAVAILABLE.
        throw toFlotillaError(e, 'INTERNAL')
      }
      await c.query(
        `INSERT INTO ${this.table} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        entryParams(entry),
      )
      return entry
    })
  }

  async query(filter: AuditFilter): Promise<AuditEntry[]> {
    const where: string[] = []
    const values: unknown[] = []
    const add = (column: string, op: string, value: string | number | undefined): void => {
      if (value === undefined) return
      values.push(value)
      where.push(`${column} ${op} $${values.length}`)
    }
    add('seq', '>', filter.afterSeq)
    add('actor', '=', filter.actor)
    add('action', '=', filter.action)
    add('resource', '=', filter.resource)
    add('at', '>=', filter.since)
    add('at', '<', filter.until)
    values.push(Math.trunc(Math.min(Math.max(filter.limit ?? 100, 1), 1000)))
    const rows = await this.db.query(
      `SELECT ${COLUMNS} FROM ${this.table}${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`} ORDER BY seq LIMIT $${values.length}`,
      values,
    )
    return rows.map(entryFromRow)
  }

  /** Ends the pool (unless shared). Later calls fail with `STORE_UNAVAILABLE`. Idempotent. */
  async close(): Promise<void> {
    await this.db.close()
  }
}

function entryParams(e: AuditEntry): unknown[] {
  return [e.seq, e.at, e.actor, e.action, e.resource, e.outcome, e.requestId, jsonText(e.details), e.prevHash, e.hash]
}

function entryFromRow(r: Row): AuditEntry {
  return {
    seq: Number(r.seq),
    at: r.at as number,
    actor: r.actor as string,
    action: r.action as string,
    resource: r.resource as string,
    outcome: r.outcome as AuditOutcome,
    requestId: r.request_id as string | null,
    details: AUDIT_DETAILS.decode(r.details as string | null, String(r.seq)) ?? null,
    prevHash: r.prev_hash as string,
    hash: r.hash as string,
  }
}
