import type { Pool, PoolClient } from 'pg'
import { FlotillaError } from '../../core/errors.js'
import { connectError, sqlError } from '../../db/postgres/errors.js'
import { quoteIdent } from '../../db/postgres/ident.js'
import { migrate, type SqlSession } from '../../db/postgres/migrate.js'
import { describeTarget, resolvePostgresOptions, type PostgresStoreOptions } from '../../db/postgres/options.js'
import { openPool, preparePool } from '../../db/postgres/pool.js'
import {
  blobDeltas,
  type ArtifactHead,
  type ContextBackend,
  type ContextStats,
  type StoredCacheEntry,
  type StoredHistory,
  type StoredRead,
  type VersionWrite,
} from '../backend.js'
import { prefixEnd, VERSION_COLUMNS, versionFromRow, versionParams, type VersionRow } from '../rows.js'
import type { ArtifactInfo } from '../types.js'
import { CONTEXT_DOMAIN, CONTEXT_LOCK_KEY } from './schema.js'

/**
 * Options of {@link PostgresContextBackend.connect}: those of the PostgreSQL
 * store (`schema`, default `flotilla`; `poolSize`, default 10;
 * `synchronousCommit`; `connectTimeoutMs`). The schema may also come from the
 * URL (`?schema=…`).
 */
export type PostgresContextBackendOptions = PostgresStoreOptions

type Row = Record<string, unknown>
type HeadRow = { head_latest: number; head_expires_at: number | null }
type NullableVersionRow = { [K in keyof VersionRow]: VersionRow[K] | null }

/** SQLSTATEs of a transaction that lost to a concurrent one (deadlock, serialization): retried. */
const RETRY_SQLSTATES = new Set(['40P01', '40001'])
const MAX_TX_ATTEMPTS = 5

/**
 * The PostgreSQL {@link ContextBackend}, for many workers sharing one
 * database. Writes to one artifact are serialised across processes by a
 * transaction-scoped advisory lock (and the unique (id, version) key), so the
 * compare-and-set of each write is exact; blob rows are locked in hash order.
 * The tables (`flotilla_ctx_*`) live in the schema of the Flotilla store.
 * Needs the optional peer dependency `pg`.
 *
 * @example
 * ```ts
 * const backend = await PostgresContextBackend.connect('postgres://flotilla@db:5432/flotilla', { schema: 'flotilla' })
 * const store = new ContextStore(backend)
 * ```
 */
export class PostgresContextBackend implements ContextBackend {
  readonly kind = 'postgres'
  readonly durable = true
  /** The PostgreSQL schema holding the tables. */
  readonly schema: string
  private readonly t: Record<'artifacts' | 'versions' | 'blobs' | 'cache', string>
  private closed = false
  private closing: Promise<void> | undefined

  private constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly where: string,
    private readonly ownsPool: boolean,
  ) {
    this.schema = schema
    const s = quoteIdent(schema)
    this.t = {
      artifacts: `${s}.flotilla_ctx_artifacts`,
      versions: `${s}.flotilla_ctx_versions`,
      blobs: `${s}.flotilla_ctx_blobs`,
      cache: `${s}.flotilla_ctx_cache`,
    }
  }

  /**
   * Connects, brings the context tables up to date (the migrations of the
   * `context` domain). Fails like `PostgresStore.connect`:
   * `STORE_URL_INVALID`, `VALIDATION_FAILED` (options), `STORE_UNAVAILABLE`,
   * `STORE_NOT_FLOTILLA`, `STORE_SCHEMA_TOO_NEW`.
   *
   * @example
   * ```ts
   * const backend = await PostgresContextBackend.connect(process.env.DATABASE_URL!, { poolSize: 4 })
   * ```
   */
  static async connect(url: string, options: PostgresContextBackendOptions = {}): Promise<PostgresContextBackend> {
    const o = resolvePostgresOptions(url, options)
    const where = describeTarget(o.target)
    const pool = await openPool(o, where, {
      what: 'context store',
      applicationName: 'flotilla-context',
      prepare: (client) => prepareContextTables(client, o.schema, where),
    })
    return new PostgresContextBackend(pool, o.schema, where, true)
  }

  /**
   * The backend on a pool shared with other parts (`openBackend`): brings the
   * schema up to date on one of its connections; `close()` leaves the pool
   * open. Fails like {@link PostgresContextBackend.connect}.
   */
  static async onPool(pool: Pool, schema: string, where: string): Promise<PostgresContextBackend> {
    await preparePool(pool, where, (client) => prepareContextTables(client, schema, where), 'context store')
    return new PostgresContextBackend(pool, schema, where, false)
  }

  async head(id: string): Promise<ArtifactHead | undefined> {
    const rows = await this.query(`SELECT latest, expires_at FROM ${this.t.artifacts} WHERE id = $1`, [id])
    return rows.length === 0
      ? undefined
      : { latest: rows[0].latest as number, expiresAt: rows[0].expires_at as number | null }
  }

  async read(id: string, version: number | undefined): Promise<StoredRead | undefined> {
    const rows = await this.query(
      `SELECT a.latest AS head_latest, a.expires_at AS head_expires_at, ${VERSION_COLUMNS}, b.data FROM ${this.t.artifacts} a
         LEFT JOIN ${this.t.versions} v ON v.id = a.id AND v.version = coalesce($2::integer, a.latest)
         LEFT JOIN ${this.t.blobs} b ON b.hash = v.content_hash WHERE a.id = $1`,
      [id, version ?? null],
    )
    if (rows.length === 0) return undefined
    const row = rows[0] as HeadRow & NullableVersionRow & { data: Buffer | null }
    const found = row.version === null ? undefined : versionFromRow(row as VersionRow)
    return { head: headOf(row), version: found, bytes: found === undefined || row.data === null ? undefined : row.data }
  }

  async history(id: string): Promise<StoredHistory | undefined> {
    const rows = (await this.query(
      `SELECT a.latest AS head_latest, a.expires_at AS head_expires_at, ${VERSION_COLUMNS} FROM ${this.t.artifacts} a
         LEFT JOIN ${this.t.versions} v ON v.id = a.id WHERE a.id = $1 ORDER BY v.version`,
      [id],
    )) as (HeadRow & NullableVersionRow)[]
    if (rows.length === 0) return undefined
    return {
      head: headOf(rows[0]),
      versions: rows.filter((r) => r.version !== null).map((r) => versionFromRow(r as VersionRow)),
    }
  }

  async list(filter: { readonly prefix?: string; readonly tag?: string }): Promise<ArtifactInfo[]> {
    const { prefix, tag } = filter
    const rows = await this.query(
      `SELECT ${VERSION_COLUMNS} FROM ${this.t.artifacts} a JOIN ${this.t.versions} v ON v.id = a.id AND v.version = a.latest
        WHERE ($1::text IS NULL OR (a.id >= $1 AND a.id < $2)) AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM json_array_elements_text(v.tags::json) t WHERE t = $3))
        ORDER BY a.id`,
      [prefix ?? null, prefix === undefined ? null : prefixEnd(prefix), tag ?? null],
    )
    return (rows as unknown as VersionRow[]).map(versionFromRow)
  }

  async write(w: VersionWrite): Promise<boolean> {
    const { record } = w
    return this.transaction(record.id, async (c) => {
      const head = await c.query(`SELECT latest FROM ${this.t.artifacts} WHERE id = $1`, [record.id])
      if (((head.rows[0]?.latest as number | undefined) ?? null) !== w.expectLatest) return false
      const released =
        w.dropThrough > 0
          ? (
              await c.query(`DELETE FROM ${this.t.versions} WHERE id = $1 AND version <= $2 RETURNING content_hash`, [
                record.id,
                w.dropThrough,
              ])
            ).rows
          : []
      await this.adjust(
        c,
        blobDeltas(
          record.contentHash,
          released.map((r) => r.content_hash as string),
        ),
        record.contentHash,
        w.bytes,
      )
      const params = versionParams(record)
      await c.query(
        `INSERT INTO ${this.t.versions} (${VERSION_COLUMNS.replace(/v\./g, '')}) VALUES (${params.map((_, i) => `$${i + 1}`).join(', ')})`,
        params,
      )
      await c.query(
        `INSERT INTO ${this.t.artifacts} (id, latest, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET latest = EXCLUDED.latest, expires_at = EXCLUDED.expires_at`,
        [record.id, record.version, record.expiresAt],
      )
      return true
    })
  }

  async remove(id: string, expiredBy?: number): Promise<boolean> {
    return this.transaction(id, async (c) => {
      const gone = await c.query(
        `DELETE FROM ${this.t.artifacts} WHERE id = $1 AND ($2::double precision IS NULL OR expires_at <= $2) RETURNING id`,
        [id, expiredBy ?? null],
      )
      if (gone.rowCount === 0) return false
      const released = (await c.query(`DELETE FROM ${this.t.versions} WHERE id = $1 RETURNING content_hash`, [id])).rows
      await this.adjust(
        c,
        blobDeltas(
          undefined,
          released.map((r) => r.content_hash as string),
        ),
        undefined,
        undefined,
      )
      return true
    })
  }

  async sweep(now: number): Promise<{ artifacts: number; cacheEntries: number }> {
    const ids = await this.query(`SELECT id FROM ${this.t.artifacts} WHERE expires_at <= $1 ORDER BY id`, [now])
    let artifacts = 0
    // One transaction per artifact: the same locks, in the same order, as a write.
    for (const { id } of ids) if (await this.remove(id as string, now)) artifacts++
    const cache = await this.query(
      `WITH gone AS (DELETE FROM ${this.t.cache} WHERE expires_at <= $1 RETURNING 1) SELECT count(*)::integer AS n FROM gone`,
      [now],
    )
    return { artifacts, cacheEntries: cache[0].n as number }
  }

  async cachePut(key: string, entry: StoredCacheEntry): Promise<void> {
    await this.query(
      `INSERT INTO ${this.t.cache} (key, value, expires_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [key, entry.text, entry.expiresAt],
    )
  }

  async cacheGet(key: string): Promise<StoredCacheEntry | undefined> {
    const rows = await this.query(`SELECT value, expires_at FROM ${this.t.cache} WHERE key = $1`, [key])
    return rows.length === 0 ? undefined : { text: rows[0].value as string, expiresAt: rows[0].expires_at as number }
  }

  async cacheRemove(key: string, expiredBy: number): Promise<boolean> {
    const rows = await this.query(`DELETE FROM ${this.t.cache} WHERE key = $1 AND expires_at <= $2 RETURNING key`, [
      key,
      expiredBy,
    ])
    return rows.length > 0
  }

  async stats(): Promise<ContextStats> {
    const rows = await this.query(
      `SELECT (SELECT count(*)::integer FROM ${this.t.artifacts}) AS artifacts, (SELECT count(*)::integer FROM ${this.t.versions}) AS versions,
              (SELECT count(*)::integer FROM ${this.t.blobs}) AS blobs, (SELECT coalesce(sum(octet_length(data)), 0)::double precision FROM ${this.t.blobs}) AS "blobBytes",
              (SELECT count(*)::integer FROM ${this.t.cache}) AS "cacheEntries"`,
      [],
    )
    return rows[0] as unknown as ContextStats
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
        `The PostgreSQL context store at ${this.where} was closed; connect a new one.`,
        { details: { target: this.where }, retryable: false },
      )
  }

  private async query(text: string, values: unknown[]): Promise<Row[]> {
    this.assertOpen()
    try {
      return (await this.pool.query(text, values)).rows as Row[]
    } catch (err) {
      throw sqlError(err, this.where, 'context store')
    }
  }

  /** Runs `fn` in a transaction holding the advisory lock of artifact `id`; retried when it loses a deadlock. */
  private async transaction<T>(id: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.assertOpen()
      let client: PoolClient
      try {
        client = await this.pool.connect()
      } catch (err) {
        throw connectError(err, this.where, 'context store')
      }
      try {
        await client.query('BEGIN')
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [CONTEXT_LOCK_KEY, `${this.schema}/${id}`])
        const result = await fn(client)
        await client.query('COMMIT')
        return result
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        const code = (err as { code?: unknown }).code
        if (attempt < MAX_TX_ATTEMPTS && typeof code === 'string' && RETRY_SQLSTATES.has(code)) continue
        throw sqlError(err, this.where, 'context store')
      } finally {
        client.release()
      }
    }
  }

  /** Applies reference count changes, locking the blob rows in hash order; `bytes` is the content of `added`. */
  private async adjust(
    c: PoolClient,
    deltas: [string, number][],
    added: string | undefined,
    bytes: Uint8Array | undefined,
  ): Promise<void> {
    const changes = deltas.filter(([, d]) => d !== 0)
    if (changes.length === 0) return
    const hashes = changes.map(([h]) => h)
    const locked = new Set(
      (
        await c.query(`SELECT hash FROM ${this.t.blobs} WHERE hash = ANY ($1::text[]) ORDER BY hash FOR UPDATE`, [
          hashes,
        ])
      ).rows.map((r) => r.hash as string),
    )
    const fresh = changes.find(([h, d]) => h === added && d > 0 && !locked.has(h))
    if (fresh !== undefined && bytes !== undefined) {
      await c.query(
        `INSERT INTO ${this.t.blobs} (hash, data, refs) VALUES ($1, $2, $3) ON CONFLICT (hash) DO UPDATE SET refs = ${this.t.blobs}.refs + EXCLUDED.refs`,
        [fresh[0], Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), fresh[1]],
      )
    }
    const existing = changes.filter(([h]) => locked.has(h))
    if (existing.length === 0) return
    const ids = existing.map(([h]) => h)
    await c.query(
      `UPDATE ${this.t.blobs} b SET refs = b.refs + d.delta FROM unnest($1::text[], $2::integer[]) AS d (hash, delta) WHERE b.hash = d.hash`,
      [ids, existing.map(([, d]) => d)],
    )
    if (existing.some(([, d]) => d < 0))
      await c.query(`DELETE FROM ${this.t.blobs} WHERE hash = ANY ($1::text[]) AND refs <= 0`, [ids])
  }
}

function headOf(row: HeadRow): ArtifactHead {
  return { latest: row.head_latest, expiresAt: row.head_expires_at }
}

/** Brings the context tables up to date (the `context` domain's migrations, under the migrator's lock). */
async function prepareContextTables(client: PoolClient, schema: string, where: string): Promise<void> {
  await migrate(client as SqlSession, schema, where, [CONTEXT_DOMAIN])
}
