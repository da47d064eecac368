import { AUDIT_DETAILS } from '../columns.js'
import type Database from 'better-sqlite3'
import type { AuditEntry, AuditFilter, AuditLogStore, AuditOutcome } from '../audit.js'
import { jsonText, SecurityConnection } from './connection.js'
import type { SqliteSecurityOptions } from './options.js'

type Params = (string | number | null)[]

/** A row of `flotilla_audit`. */
interface AuditRow {
  seq: number
  at: number
  actor: string
  action: string
  resource: string
  outcome: string
  request_id: string | null
  details: string | null
  prev_hash: string
  hash: string
}

const COLUMNS = 'seq, at, actor, action, resource, outcome, request_id, details, prev_hash, hash'

/**
 * The audit log in an SQLite file (better-sqlite3), usually the file of the
 * Flotilla store. `append` reads the last entry, builds the next and writes
 * it in one `BEGIN IMMEDIATE` transaction run without yielding: SQLite's
 * write lock is held from the read to the write, so every connection and
 * process on the file appends to one chain, numbered 1..n without gaps.
 *
 * @example
 * ```ts
 * const audit = new AuditLog(SqliteAuditLogStore.open({ path: '.flotilla/flotilla.db' }))
 * ```
 */
export class SqliteAuditLogStore implements AuditLogStore {
  private readonly appendTx: (build: (last: AuditEntry | undefined) => AuditEntry) => AuditEntry
  /** The prepared query of each combination of filters used. */
  private readonly queries = new Map<string, Database.Statement<Params, AuditRow>>()

  private constructor(private readonly conn: SecurityConnection) {
    const last = conn.db.prepare<[], AuditRow>(`SELECT ${COLUMNS} FROM flotilla_audit ORDER BY seq DESC LIMIT 1`)
    const insert = conn.db.prepare<Params>(
      `INSERT INTO flotilla_audit (${COLUMNS}) VALUES (${Array(10).fill('?').join(', ')})`,
    )
    // `.immediate`: the write lock is taken at BEGIN, before the last entry is read.
    this.appendTx = conn.db.transaction((build: (last: AuditEntry | undefined) => AuditEntry): AuditEntry => {
      const row = last.get()
      const entry = build(row === undefined ? undefined : entryFromRow(row))
      insert.run(...entryParams(entry))
      return entry
    }).immediate
  }

  /** The database file, as given. */
  get path(): string {
    return this.conn.path
  }

  /**
   * Opens (creating when new) the file and the security tables (the
   * `security` domain's migrations). Fails like `SqliteSecurityStore.open`.
   *
   * @example
   * ```ts
   * const log = SqliteAuditLogStore.open({ path: '.flotilla/flotilla.db' })
   * ```
   */
  static open(options: SqliteSecurityOptions): SqliteAuditLogStore {
    const conn = SecurityConnection.open(options, 'audit log')
    try {
      return new SqliteAuditLogStore(conn)
    } catch (e) {
      conn.close()
      throw e
    }
  }

  async append(build: (last: AuditEntry | undefined) => AuditEntry): Promise<AuditEntry> {
    return this.conn.run(() => this.appendTx(build))
  }

  async query(filter: AuditFilter): Promise<AuditEntry[]> {
    const where: string[] = []
    const params: Params = []
    const add = (clause: string, value: string | number | undefined): void => {
      if (value === undefined) return
      where.push(clause)
      params.push(value)
    }
    add('seq > ?', filter.afterSeq)
    add('actor = ?', filter.actor)
    add('action = ?', filter.action)
    add('resource = ?', filter.resource)
    add('at >= ?', filter.since)
    add('at < ?', filter.until)
    params.push(auditLimit(filter.limit))
    const sql = `SELECT ${COLUMNS} FROM flotilla_audit${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`} ORDER BY seq LIMIT ?`
    return this.conn
      .run(() => {
        let statement = this.queries.get(sql)
        if (statement === undefined) this.queries.set(sql, (statement = this.conn.db.prepare<Params, AuditRow>(sql)))
        return statement.all(...params)
      })
      .map(entryFromRow)
  }

  /** Closes the connection (the file stays). Later calls fail with `STORE_UNAVAILABLE`. Idempotent. */
  async close(): Promise<void> {
    this.conn.close()
  }
}

/** The limit of a query: 100 unless given, between 1 and 1000. */
function auditLimit(limit: number | undefined): number {
  return Math.trunc(Math.min(Math.max(limit ?? 100, 1), 1000))
}

function entryParams(e: AuditEntry): Params {
  return [e.seq, e.at, e.actor, e.action, e.resource, e.outcome, e.requestId, jsonText(e.details), e.prevHash, e.hash]
}

function entryFromRow(r: AuditRow): AuditEntry {
  return {
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    action: r.action,
    resource: r.resource,
    outcome: r.outcome as AuditOutcome,
    requestId: r.request_id,
    details: AUDIT_DETAILS.decode(r.details as string | null, String(r.seq)) ?? null,
    prevHash: r.prev_hash,
    hash: r.hash,
  }
}
