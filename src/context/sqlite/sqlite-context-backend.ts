import type Database from 'better-sqlite3'
import { FlotillaError } from '../../core/errors.js'
import { sqliteError } from '../../db/sqlite/errors.js'
import { openDatabase } from '../../db/sqlite/open-database.js'
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
import { CONTEXT_DOMAIN } from './schema.js'

/** Options of {@link SqliteContextBackend.open}. */
export interface SqliteContextBackendOptions {
  /**
   * The database file (created with its folders when missing), or `:memory:`.
   * It may be the file of the Flotilla store (`.flotilla/flotilla.db`): the
   * context tables (`flotilla_ctx_*`) sit beside the store's.
   */
  path: string
  /**
   * How long a write waits for another process's lock before failing with
   * `STORE_UNAVAILABLE`, in ms.
   * @default 5000
   */
  busyTimeoutMs?: number
}

type Params = (string | number | null | Buffer)[]
type Statement<Row = unknown> = Database.Statement<Params, Row>
type HeadRow = { head_latest: number; head_expires_at: number | null }
type NullableVersionRow = { [K in keyof VersionRow]: VersionRow[K] | null }

/**
 * The SQLite {@link ContextBackend}, on better-sqlite3. Every write is one
 * `BEGIN IMMEDIATE` transaction run without yielding, so several processes
 * (or several stores of one process) sharing the file serialise their writes
 * and the compare-and-set of each is exact.
 *
 * @example
 * ```ts
 * const store = new ContextStore(SqliteContextBackend.open({ path: '.flotilla/flotilla.db' }))
 * ```
 */
export class SqliteContextBackend implements ContextBackend {
  readonly kind = 'sqlite'
  readonly durable = true
  /** The database file, as given. */
  readonly path: string
  private readonly db: Database.Database
  private readonly s: Record<
    | 'head'
    | 'read'
    | 'history'
    | 'list'
    | 'dropThrough'
    | 'dropAll'
    | 'insertVersion'
    | 'upsertHead'
    | 'deleteHead'
    | 'expiredIds'
    | 'addRefs'
    | 'insertBlob'
    | 'deleteBlob'
    | 'cachePut'
    | 'cacheGet'
    | 'cacheRemove'
    | 'cacheSweep'
    | 'stats',
    Statement
  >
  private readonly writeTx: (w: VersionWrite) => boolean
  private readonly removeTx: (id: string, expiredBy: number | undefined) => boolean
  private readonly sweepTx: (now: number) => { artifacts: number; cacheEntries: number }
  private readonly putManyTx: (entries: readonly (readonly [string, StoredCacheEntry])[]) => void
  private closed = false

  private constructor(path: string, db: Database.Database) {
    this.path = path
    this.db = db
    const p = <Row = unknown>(sql: string): Statement<Row> => db.prepare<Params, Row>(sql)
    const headAndVersion = `SELECT a.latest AS head_latest, a.expires_at AS head_expires_at, ${VERSION_COLUMNS}`
    this.s = {
      head: p('SELECT latest, expires_at FROM flotilla_ctx_artifacts WHERE id = ?'),
      read: p(`${headAndVersion}, b.data FROM flotilla_ctx_artifacts a
        LEFT JOIN flotilla_ctx_versions v ON v.id = a.id AND v.version = coalesce(?, a.latest)
        LEFT JOIN flotilla_ctx_blobs b ON b.hash = v.content_hash WHERE a.id = ?`),
      history: p(
        `${headAndVersion} FROM flotilla_ctx_artifacts a LEFT JOIN flotilla_ctx_versions v ON v.id = a.id WHERE a.id = ? ORDER BY v.version`,
      ),
      list: p(`SELECT ${VERSION_COLUMNS} FROM flotilla_ctx_artifacts a JOIN flotilla_ctx_versions v ON v.id = a.id AND v.version = a.latest
        WHERE (? IS NULL OR (a.id >= ? AND a.id < ?)) AND (? IS NULL OR EXISTS (SELECT 1 FROM json_each(v.tags) t WHERE t.value = ?)) ORDER BY a.id`),
      dropThrough: p('DELETE FROM flotilla_ctx_versions WHERE id = ? AND version <= ? RETURNING content_hash'),
      dropAll: p('DELETE FROM flotilla_ctx_versions WHERE id = ? RETURNING content_hash'),
      insertVersion: p(
        `INSERT INTO flotilla_ctx_versions (${VERSION_COLUMNS.replace(/v\./g, '')}) VALUES (${Array(13).fill('?').join(', ')})`,
      ),
      upsertHead: p(
        'INSERT INTO flotilla_ctx_artifacts (id, latest, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET latest = excluded.latest, expires_at = excluded.expires_at',
      ),
      deleteHead: p('DELETE FROM flotilla_ctx_artifacts WHERE id = ? AND (? IS NULL OR expires_at <= ?)'),
      expiredIds: p('SELECT id FROM flotilla_ctx_artifacts WHERE expires_at <= ?'),
      addRefs: p('UPDATE flotilla_ctx_blobs SET refs = refs + ? WHERE hash = ?'),
      insertBlob: p('INSERT INTO flotilla_ctx_blobs (hash, data, refs) VALUES (?, ?, ?)'),
      deleteBlob: p('DELETE FROM flotilla_ctx_blobs WHERE hash = ? AND refs <= 0'),
      cachePut: p(
        'INSERT INTO flotilla_ctx_cache (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
      ),
      cacheGet: p('SELECT value, expires_at FROM flotilla_ctx_cache WHERE key = ?'),
      cacheRemove: p('DELETE FROM flotilla_ctx_cache WHERE key = ? AND expires_at <= ?'),
      cacheSweep: p('DELETE FROM flotilla_ctx_cache WHERE expires_at <= ?'),
      stats:
        p(`SELECT (SELECT count(*) FROM flotilla_ctx_artifacts) AS artifacts, (SELECT count(*) FROM flotilla_ctx_versions) AS versions,
        (SELECT count(*) FROM flotilla_ctx_blobs) AS blobs, (SELECT coalesce(sum(length(data)), 0) FROM flotilla_ctx_blobs) AS blobBytes,
        (SELECT count(*) FROM flotilla_ctx_cache) AS cacheEntries`),
    }
    // `.immediate`: the write lock is taken at BEGIN, so a busy writer is waited for (busyTimeoutMs), never a failed lock upgrade.
    this.writeTx = db.transaction((w: VersionWrite): boolean => {
      const head = this.s.head.get(w.record.id) as { latest: number } | undefined
      if ((head?.latest ?? null) !== w.expectLatest) return false
      const released = w.dropThrough > 0 ? this.hashes(this.s.dropThrough.all(w.record.id, w.dropThrough)) : []
      this.adjust(blobDeltas(w.record.contentHash, released), w.record.contentHash, w.bytes)
      this.s.insertVersion.run(...versionParams(w.record))
      this.s.upsertHead.run(w.record.id, w.record.version, w.record.expiresAt)
      return true
    }).immediate
    const remove = (id: string, expiredBy: number | undefined): boolean => {
      if (this.s.deleteHead.run(id, expiredBy ?? null, expiredBy ?? null).changes === 0) return false
      this.adjust(blobDeltas(undefined, this.hashes(this.s.dropAll.all(id))), undefined, undefined)
      return true
    }
    this.removeTx = db.transaction(remove).immediate
    this.putManyTx = db.transaction((entries: readonly (readonly [string, StoredCacheEntry])[]) => {
      for (const [key, e] of entries) this.s.cachePut.run(key, e.text, e.expiresAt)
    }).immediate
    this.sweepTx = db.transaction((now: number) => {
      const ids = (this.s.expiredIds.all(now) as { id: string }[]).map((r) => r.id)
      let artifacts = 0
      for (const id of ids) if (remove(id, now)) artifacts++
      return { artifacts, cacheEntries: this.s.cacheSweep.run(now).changes }
    }).immediate
  }

  /**
   * Opens (creating when new) the file and the context tables. The file
   * becomes (or must already be) a Flotilla store: `STORE_NOT_FLOTILLA` for a
   * file of something else (left untouched), `STORE_UNAVAILABLE` for a path
   * that cannot be opened.
   *
   * @example
   * ```ts
   * const backend = SqliteContextBackend.open({ path: '.flotilla/flotilla.db', busyTimeoutMs: 10_000 })
   * ```
   */
  static open(options: SqliteContextBackendOptions): SqliteContextBackend {
    const { path, busyTimeoutMs = 5000 } = options
    if (typeof path !== 'string' || path.length === 0) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'SqliteContextBackend option "path" must be a file path or ":memory:".',
        { details: { field: 'path' } },
      )
    }
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `SqliteContextBackend option "busyTimeoutMs" must be a whole number of ms ≥ 0; got ${busyTimeoutMs}.`,
        { details: { field: 'busyTimeoutMs' } },
      )
    }
    const db = openDatabase({ path, synchronous: 'NORMAL', busyTimeoutMs, domains: [CONTEXT_DOMAIN] })
    try {
      return new SqliteContextBackend(path, db)
    } catch (e) {
      db.close()
      throw storeError(e, path)
    }
  }

  async head(id: string): Promise<ArtifactHead | undefined> {
    const row = this.run(() => this.s.head.get(id) as { latest: number; expires_at: number | null } | undefined)
    return row === undefined ? undefined : { latest: row.latest, expiresAt: row.expires_at }
  }

  async read(id: string, version: number | undefined): Promise<StoredRead | undefined> {
    const row = this.run(
      () =>
        this.s.read.get(version ?? null, id) as (HeadRow & NullableVersionRow & { data: Buffer | null }) | undefined,
    )
    if (row === undefined) return undefined
    const found = row.version === null ? undefined : versionFromRow(row as VersionRow)
    return { head: headOf(row), version: found, bytes: found === undefined || row.data === null ? undefined : row.data }
  }

  async history(id: string): Promise<StoredHistory | undefined> {
    const rows = this.run(() => this.s.history.all(id) as (HeadRow & NullableVersionRow)[])
    if (rows.length === 0) return undefined
    return {
      head: headOf(rows[0]),
      versions: rows.filter((r) => r.version !== null).map((r) => versionFromRow(r as VersionRow)),
    }
  }

  async list(filter: { readonly prefix?: string; readonly tag?: string }): Promise<ArtifactInfo[]> {
    const { prefix, tag } = filter
    const rows = this.run(
      () =>
        this.s.list.all(
          prefix ?? null,
          prefix ?? null,
          prefix === undefined ? null : prefixEnd(prefix),
          tag ?? null,
          tag ?? null,
        ) as VersionRow[],
    )
    return rows.map(versionFromRow)
  }

  async write(w: VersionWrite): Promise<boolean> {
    return this.run(() => this.writeTx(w))
  }

  async remove(id: string, expiredBy?: number): Promise<boolean> {
    return this.run(() => this.removeTx(id, expiredBy))
  }

  async sweep(now: number): Promise<{ artifacts: number; cacheEntries: number }> {
    return this.run(() => this.sweepTx(now))
  }

  async cachePut(key: string, entry: StoredCacheEntry): Promise<void> {
    this.run(() => this.s.cachePut.run(key, entry.text, entry.expiresAt))
  }

  async cachePutMany(entries: readonly (readonly [key: string, entry: StoredCacheEntry])[]): Promise<void> {
    this.run(() => this.putManyTx(entries))
  }

  async cacheGet(key: string): Promise<StoredCacheEntry | undefined> {
    const row = this.run(() => this.s.cacheGet.get(key) as { value: string; expires_at: number } | undefined)
    return row === undefined ? undefined : { text: row.value, expiresAt: row.expires_at }
  }

  async cacheRemove(key: string, expiredBy: number): Promise<boolean> {
    return this.run(() => this.s.cacheRemove.run(key, expiredBy).changes > 0)
  }

  async stats(): Promise<ContextStats> {
    return this.run(() => this.s.stats.get() as ContextStats)
  }

  /** Closes the connection (the file stays). Later calls fail with `STORE_UNAVAILABLE`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private run<T>(fn: () => T): T {
    if (this.closed)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The SQLite context store "${this.path}" was closed; open a new one.`,
        { details: { path: this.path }, retryable: false },
      )
    try {
      return fn()
    } catch (e) {
      throw storeError(e, this.path)
    }
  }

  private hashes(rows: unknown[]): string[] {
    return (rows as { content_hash: string }[]).map((r) => r.content_hash)
  }

  /** Applies reference count changes inside a transaction; `bytes` is the content of `added`. */
  private adjust(deltas: [string, number][], added: string | undefined, bytes: Uint8Array | undefined): void {
    for (const [hash, delta] of deltas) {
      if (delta === 0) continue
      if (this.s.addRefs.run(delta, hash).changes === 0) {
        if (hash === added && bytes !== undefined && delta > 0)
          this.s.insertBlob.run(hash, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), delta)
      } else if (delta < 0) {
        this.s.deleteBlob.run(hash)
      }
    }
  }
}

function headOf(row: HeadRow): ArtifactHead {
  return { latest: row.head_latest, expiresAt: row.head_expires_at }
}

/** Keeps Flotilla errors; an SQLite error becomes `STORE_UNAVAILABLE` with its SQLite code in details. */
function storeError(e: unknown, path: string): FlotillaError {
  return sqliteError(e, path, 'context store')
}
