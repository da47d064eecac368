import { KEY_SCOPES } from '../columns.js'
import type Database from 'better-sqlite3'
import { FlotillaError } from '../../core/errors.js'
import type { Role } from '../roles.js'
import { keyNotFound, type ApiKeyRecord, type BlockRecord, type SecurityStore } from '../security-store.js'
import { jsonText, SecurityConnection } from './connection.js'
import type { SqliteSecurityOptions } from './options.js'

type Params = (string | number | null)[]
type Statement<Row = unknown> = Database.Statement<Params, Row>

/** A row of `flotilla_api_keys`. */
interface KeyRow {
  id: string
  name: string
  role: string
  scopes: string | null
  hash: string
  previous_hash: string | null
  previous_valid_until: number | null
  created_by: string
  created_at: number
  expires_at: number | null
  revoked_at: number | null
  rotated_at: number | null
  last_used_at: number | null
}

/** A row of `flotilla_blocks`. */
interface BlockRow {
  target: string
  reason: string
  created_at: number
  until: number
  created_by: string
}

const KEY_COLUMNS =
  'id, name, role, scopes, hash, previous_hash, previous_valid_until, created_by, created_at, expires_at, revoked_at, rotated_at, last_used_at'
const BLOCK_COLUMNS = 'target, reason, created_at, "until", created_by'

/**
 * API keys and blocks in an SQLite file (better-sqlite3), usually the file
 * of the Flotilla store, so every process of one host sees the same keys.
 * Each call is one statement; SQLite's lock orders writers.
 *
 * @example
 * ```ts
 * const keys = new ApiKeys(SqliteSecurityStore.open({ path: '.flotilla/flotilla.db' }))
 * ```
 */
export class SqliteSecurityStore implements SecurityStore {
  private readonly s: Record<
    | 'insertKey'
    | 'getKey'
    | 'listKeys'
    | 'updateKey'
    | 'touchKey'
    | 'putBlock'
    | 'listBlocks'
    | 'getBlock'
    | 'deleteBlock',
    Statement
  >

  private constructor(private readonly conn: SecurityConnection) {
    const p = <Row = unknown>(sql: string): Statement<Row> => conn.db.prepare<Params, Row>(sql)
    this.s = {
      insertKey: p(
        `INSERT INTO flotilla_api_keys (${KEY_COLUMNS}) VALUES (${Array(13).fill('?').join(', ')}) ON CONFLICT (id) DO NOTHING`,
      ),
      getKey: p(`SELECT ${KEY_COLUMNS} FROM flotilla_api_keys WHERE id = ?`),
      listKeys: p(`SELECT ${KEY_COLUMNS} FROM flotilla_api_keys ORDER BY created_at, id`),
      updateKey: p(
        `UPDATE flotilla_api_keys SET name = ?, role = ?, scopes = ?, hash = ?, previous_hash = ?, previous_valid_until = ?,
          created_by = ?, created_at = ?, expires_at = ?, revoked_at = ?, rotated_at = ?, last_used_at = ? WHERE id = ?`,
      ),
      touchKey: p('UPDATE flotilla_api_keys SET last_used_at = ? WHERE id = ?'),
      putBlock: p(
        `INSERT INTO flotilla_blocks (${BLOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET
          reason = excluded.reason, created_at = excluded.created_at, "until" = excluded."until", created_by = excluded.created_by`,
      ),
      listBlocks: p(`SELECT ${BLOCK_COLUMNS} FROM flotilla_blocks WHERE "until" > ? ORDER BY "until", target`),
      getBlock: p(`SELECT ${BLOCK_COLUMNS} FROM flotilla_blocks WHERE target = ? AND "until" > ?`),
      deleteBlock: p('DELETE FROM flotilla_blocks WHERE target = ? RETURNING "until"'),
    }
  }

  /** The database file, as given. */
  get path(): string {
    return this.conn.path
  }

  /**
   * Opens (creating when new) the file and the security tables (the
   * `security` domain's migrations). `STORE_NOT_FLOTILLA` for a file of
   * something else, `STORE_SCHEMA_TOO_NEW`, `STORE_UNAVAILABLE` for a path
   * that cannot be opened, `VALIDATION_FAILED` for bad options.
   *
   * @example
   * ```ts
   * const store = SqliteSecurityStore.open({ path: '.flotilla/flotilla.db', busyTimeoutMs: 10_000 })
   * ```
   */
  static open(options: SqliteSecurityOptions): SqliteSecurityStore {
    const conn = SecurityConnection.open(options, 'security store')
    try {
      return new SqliteSecurityStore(conn)
    } catch (e) {
      conn.close()
      throw e
    }
  }

  async insertKey(record: ApiKeyRecord): Promise<void> {
    const changes = this.conn.run(() => this.s.insertKey.run(record.id, ...keyParams(record)).changes)
    if (changes === 0)
      throw new FlotillaError('VALIDATION_FAILED', `An API key with id "${record.id}" exists already.`, {
        details: { keyId: record.id },
      })
  }

  async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.conn.run(() => this.s.getKey.get(id) as KeyRow | undefined)
    return row === undefined ? undefined : keyFromRow(row)
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return this.conn.run(() => this.s.listKeys.all() as KeyRow[]).map(keyFromRow)
  }

  async updateKey(record: ApiKeyRecord): Promise<void> {
    const changes = this.conn.run(() => this.s.updateKey.run(...keyParams(record), record.id).changes)
    if (changes === 0) throw keyNotFound(record.id)
  }

  async touchKey(id: string, lastUsedAt: number): Promise<void> {
    this.conn.run(() => this.s.touchKey.run(lastUsedAt, id))
  }

  async putBlock(record: BlockRecord): Promise<void> {
    this.conn.run(() =>
      this.s.putBlock.run(record.target, record.reason, record.createdAt, record.until, record.createdBy),
    )
  }

  async listBlocks(now: number): Promise<BlockRecord[]> {
    return this.conn.run(() => this.s.listBlocks.all(now) as BlockRow[]).map(blockFromRow)
  }

  async getBlock(target: string, now: number): Promise<BlockRecord | undefined> {
    const row = this.conn.run(() => this.s.getBlock.get(target, now) as BlockRow | undefined)
    return row === undefined ? undefined : blockFromRow(row)
  }

  async liftBlock(target: string, now: number): Promise<boolean> {
    const row = this.conn.run(() => this.s.deleteBlock.get(target) as { until: number } | undefined)
    return row !== undefined && row.until > now
  }

  /** Closes the connection (the file stays). Later calls fail with `STORE_UNAVAILABLE`. Idempotent. */
  async close(): Promise<void> {
    this.conn.close()
  }
}

/** Every column but `id`, in the order of {@link KEY_COLUMNS}. */
function keyParams(k: ApiKeyRecord): Params {
  return [
    k.name,
    k.role,
    jsonText(k.scopes),
    k.hash,
    k.previous?.hash ?? null,
    k.previous?.validUntil ?? null,
    k.createdBy,
    k.createdAt,
    k.expiresAt,
    k.revokedAt,
    k.rotatedAt,
    k.lastUsedAt,
  ]
}

function keyFromRow(r: KeyRow): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role as Role,
    scopes: KEY_SCOPES.decode(r.scopes as string | null, r.id as string) ?? null,
    hash: r.hash,
    previous:
      r.previous_hash === null || r.previous_valid_until === null
        ? null
        : { hash: r.previous_hash, validUntil: r.previous_valid_until },
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    rotatedAt: r.rotated_at,
    lastUsedAt: r.last_used_at,
  }
}

function blockFromRow(r: BlockRow): BlockRecord {
  return { target: r.target, reason: r.reason, createdAt: r.created_at, until: r.until, createdBy: r.created_by }
}
