import { KEY_SCOPES } from '../columns.js'
import type { Pool } from 'pg'
import { FlotillaError } from '../../core/errors.js'
import type { Role } from '../roles.js'
import { keyNotFound, type ApiKeyRecord, type BlockRecord, type SecurityStore } from '../security-store.js'
import { jsonText, SecurityPool, type PostgresSecurityOptions, type Row } from './connection.js'

const KEY_COLUMNS =
  'id, name, role, scopes, hash, previous_hash, previous_valid_until, created_by, created_at, expires_at, revoked_at, rotated_at, last_used_at'
const BLOCK_COLUMNS = 'target, reason, created_at, "until", created_by'
const WHAT = 'security store'

/**
 * API keys and blocks in PostgreSQL, in the schema of the Flotilla store, so
 * every server process on the database sees the same keys and blocks. Each
 * call is one statement. Needs the optional peer dependency `pg`.
 *
 * @example
 * ```ts
 * const store = await PostgresSecurityStore.connect('postgres://flotilla@db:5432/app', { schema: 'flotilla' })
 * const keys = new ApiKeys(store)
 * ```
 */
export class PostgresSecurityStore implements SecurityStore {
  private readonly keys: string
  private readonly blocks: string

  private constructor(private readonly db: SecurityPool) {
    this.keys = db.table('flotilla_api_keys')
    this.blocks = db.table('flotilla_blocks')
  }

  /** The PostgreSQL schema holding the tables. */
  get schema(): string {
    return this.db.schema
  }

  /**
   * Connects (a pool of its own) and brings the security tables up to date.
   * Fails like `PostgresStore.connect`: `STORE_URL_INVALID`,
   * `VALIDATION_FAILED` (options), `STORE_UNAVAILABLE`, `STORE_NOT_FLOTILLA`,
   * `STORE_SCHEMA_TOO_NEW`.
   *
   * @example
   * ```ts
   * const store = await PostgresSecurityStore.connect(process.env.DATABASE_URL!, { poolSize: 2 })
   * ```
   */
  static async connect(url: string, options: PostgresSecurityOptions = {}): Promise<PostgresSecurityStore> {
    return new PostgresSecurityStore(await SecurityPool.connect(url, options, WHAT))
  }

  /**
   * The store on a pool shared with other parts (`openBackend`): brings the
   * schema up to date on one of its connections; `close()` leaves the pool
   * open. Fails like {@link PostgresSecurityStore.connect}.
   */
  static async onPool(pool: Pool, schema: string, where: string): Promise<PostgresSecurityStore> {
    return new PostgresSecurityStore(await SecurityPool.onPool(pool, schema, where, WHAT))
  }

  async insertKey(record: ApiKeyRecord): Promise<void> {
    const rows = await this.db.query(
      `INSERT INTO ${this.keys} (${KEY_COLUMNS}) VALUES (${params(13)}) ON CONFLICT (id) DO NOTHING RETURNING id`,
      [record.id, ...keyParams(record)],
    )
    if (rows.length === 0)
      throw new FlotillaError('VALIDATION_FAILED', `An API key with id "${record.id}" exists already.`, {
        details: { keyId: record.id },
      })
  }

  async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    const rows = await this.db.query(`SELECT ${KEY_COLUMNS} FROM ${this.keys} WHERE id = $1`, [id])
    return rows.length === 0 ? undefined : keyFromRow(rows[0])
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.query(`SELECT ${KEY_COLUMNS} FROM ${this.keys} ORDER BY created_at, id`, [])).map(keyFromRow)
  }

  async updateKey(record: ApiKeyRecord): Promise<void> {
    const rows = await this.db.query(
      `UPDATE ${this.keys} SET name = $2, role = $3, scopes = $4, hash = $5, previous_hash = $6, previous_valid_until = $7,
         created_by = $8, created_at = $9, expires_at = $10, revoked_at = $11, rotated_at = $12, last_used_at = $13
       WHERE id = $1 RETURNING id`,
      [record.id, ...keyParams(record)],
    )
    if (rows.length === 0) throw keyNotFound(record.id)
  }

  async touchKey(id: string, lastUsedAt: number): Promise<void> {
    await this.db.query(`UPDATE ${this.keys} SET last_used_at = $2 WHERE id = $1`, [id, lastUsedAt])
  }

  async putBlock(record: BlockRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.blocks} (${BLOCK_COLUMNS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target) DO UPDATE SET
         reason = EXCLUDED.reason, created_at = EXCLUDED.created_at, "until" = EXCLUDED."until", created_by = EXCLUDED.created_by`,
      [record.target, record.reason, record.createdAt, record.until, record.createdBy],
    )
  }

  async listBlocks(now: number): Promise<BlockRecord[]> {
    const rows = await this.db.query(
      `SELECT ${BLOCK_COLUMNS} FROM ${this.blocks} WHERE "until" > $1 ORDER BY "until", target`,
      [now],
    )
    return rows.map(blockFromRow)
  }

  async getBlock(target: string, now: number): Promise<BlockRecord | undefined> {
    const rows = await this.db.query(`SELECT ${BLOCK_COLUMNS} FROM ${this.blocks} WHERE target = $1 AND "until" > $2`, [
      target,
      now,
    ])
    return rows.length === 0 ? undefined : blockFromRow(rows[0])
  }

  async liftBlock(target: string, now: number): Promise<boolean> {
    const rows = await this.db.query(`DELETE FROM ${this.blocks} WHERE target = $1 RETURNING "until"`, [target])
    return rows.length > 0 && (rows[0].until as number) > now
  }

  /** Ends the pool (unless shared). Later calls fail with `STORE_UNAVAILABLE`. Idempotent. */
  async close(): Promise<void> {
    await this.db.close()
  }
}

/** `$1, $2, … $n`. */
function params(n: number): string {
  return Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ')
}

/** Every column but `id`, in the order of {@link KEY_COLUMNS}. */
function keyParams(k: ApiKeyRecord): unknown[] {
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

function keyFromRow(r: Row): ApiKeyRecord {
  const previousHash = r.previous_hash as string | null
  const previousUntil = r.previous_valid_until as number | null
  return {
    id: r.id as string,
    name: r.name as string,
    role: r.role as Role,
    scopes: KEY_SCOPES.decode(r.scopes as string | null, r.id as string) ?? null,
    hash: r.hash as string,
    previous:
      previousHash === null || previousUntil === null ? null : { hash: previousHash, validUntil: previousUntil },
    createdBy: r.created_by as string,
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number | null,
    revokedAt: r.revoked_at as number | null,
    rotatedAt: r.rotated_at as number | null,
    lastUsedAt: r.last_used_at as number | null,
  }
}

function blockFromRow(r: Row): BlockRecord {
  return {
    target: r.target as string,
    reason: r.reason as string,
    createdAt: r.created_at as number,
    until: r.until as number,
    createdBy: r.created_by as string,
  }
}
