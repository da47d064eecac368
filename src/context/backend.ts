import type { ArtifactInfo } from './types.js'

/**
 * The stored head of an artifact: its latest version and when the artifact
 * expires (the latest version's `expiresAt`).
 *
 * @example
 * ```ts
 * const head: ArtifactHead = { latest: 3, expiresAt: null }
 * ```
 */
export interface ArtifactHead {
  /** The latest version number. */
  readonly latest: number
  /** Wall-clock ms after which the artifact is expired, or `null`. */
  readonly expiresAt: number | null
}

/** What {@link ContextBackend.read} found: the head, and the version asked for if it is kept. */
export interface StoredRead {
  /** The artifact's head. */
  readonly head: ArtifactHead
  /** The version, or `undefined` when that version is not kept. */
  readonly version: ArtifactInfo | undefined
  /** The stored bytes of `version`. */
  readonly bytes: Uint8Array | undefined
}

/** What {@link ContextBackend.history} found. */
export interface StoredHistory {
  /** The artifact's head. */
  readonly head: ArtifactHead
  /** The kept versions, oldest first. */
  readonly versions: ArtifactInfo[]
}

/**
 * One version to store, decided by the `ContextStore`. The backend applies
 * it atomically, and only if the artifact's latest version is still
 * `expectLatest` (compare-and-set): in one transaction it removes the
 * versions numbered up to `dropThrough` (releasing their content), stores
 * the content once by its hash (a blob shared by every version with the same
 * bytes), inserts the version under its unique (id, version) key and moves
 * the head to it. Blobs no version references now are deleted.
 *
 * @example
 * ```ts
 * const ok = await backend.write({ record, bytes, expectLatest: 2, dropThrough: 0 })
 * ```
 */
export interface VersionWrite {
  /** The version to store (its `version` becomes the latest). */
  readonly record: ArtifactInfo
  /** The content bytes, hashed into `record.contentHash`. */
  readonly bytes: Uint8Array
  /** The latest version the decision was based on; `null`: the artifact did not exist. */
  readonly expectLatest: number | null
  /** Versions numbered up to this one (inclusive) are removed first; `0` removes none. */
  readonly dropThrough: number
}

/** A stored cache entry. */
export interface StoredCacheEntry {
  /** The JSON text of the value. */
  readonly text: string
  /** Wall-clock ms after which the entry is gone. */
  readonly expiresAt: number
}

/** Counts of what a backend holds, for tests, dashboards and capacity checks. */
export interface ContextStats {
  /** Artifacts (expired ones not yet swept included). */
  readonly artifacts: number
  /** Kept versions, over all artifacts. */
  readonly versions: number
  /** Distinct stored contents. */
  readonly blobs: number
  /** Bytes of the distinct stored contents. */
  readonly blobBytes: number
  /** Cache entries (expired ones not yet swept included). */
  readonly cacheEntries: number
}

/**
 * The storage port of the context store. Adapters (memory, SQLite,
 * PostgreSQL) only store and fetch: validation, permissions, version
 * numbering, conflicts and expiry decisions live once, in `ContextStore`.
 * Every method is atomic; {@link ContextBackend.write} is a compare-and-set,
 * safe across processes sharing one database.
 *
 * @example
 * ```ts
 * const store = new ContextStore(new MemoryContextBackend(), { keepVersions: 5 })
 * ```
 */
export interface ContextBackend {
  /** `memory`, `sqlite` or `postgres`. */
  readonly kind: string
  /** Whether what it holds outlives the process. */
  readonly durable: boolean
  /** The head of an artifact, or `undefined` when it does not exist. */
  head(id: string): Promise<ArtifactHead | undefined>
  /** One version with its bytes (`version` omitted: the latest), in one consistent read; `undefined` when the artifact does not exist. */
  read(id: string, version: number | undefined): Promise<StoredRead | undefined>
  /** Every kept version, oldest first; `undefined` when the artifact does not exist. */
  history(id: string): Promise<StoredHistory | undefined>
  /** The latest version of every artifact (expired ones included), by id, optionally only ids starting with `prefix` and versions carrying `tag`. */
  list(filter: { readonly prefix?: string; readonly tag?: string }): Promise<ArtifactInfo[]>
  /** Applies a {@link VersionWrite}; `false` (nothing changed) when the latest version is no longer `expectLatest`. */
  write(write: VersionWrite): Promise<boolean>
  /** Removes an artifact with all its versions; with `expiredBy`, only if it expires at or before that time. `false` if nothing was removed. */
  remove(id: string, expiredBy?: number): Promise<boolean>
  /** Removes every artifact and cache entry expiring at or before `now`. */
  sweep(now: number): Promise<{ artifacts: number; cacheEntries: number }>
  /** Stores (replaces) a cache entry. */
  cachePut(key: string, entry: StoredCacheEntry): Promise<void>
  /**
   * Stores (replaces) several cache entries in one transaction: all or none.
   * Optional: a backend whose writes each cost a transaction has it, and the
   * task journal then commits the entries written at the same time together.
   */
  cachePutMany?(entries: readonly (readonly [key: string, entry: StoredCacheEntry])[]): Promise<void>
  /** A cache entry, expired or not, or `undefined`. */
  cacheGet(key: string): Promise<StoredCacheEntry | undefined>
  /** Removes a cache entry if it expires at or before `expiredBy`; `false` if nothing was removed. */
  cacheRemove(key: string, expiredBy: number): Promise<boolean>
  /** What the backend holds. */
  stats(): Promise<ContextStats>
  /** Releases connections; later calls fail with `STORE_UNAVAILABLE`. */
  close(): Promise<void>
}

/**
 * How the reference counts of blobs change when a version with content
 * `added` is stored and versions with contents `released` are removed: one
 * entry per hash, sorted by hash (so that every adapter locks blob rows in the
 * same order). Shared by the adapters.
 *
 * @example
 * ```ts
 * blobDeltas('aa', ['bb', 'aa']) // [['aa', 0], ['bb', -1]]
 * ```
 */
export function blobDeltas(added: string | undefined, released: readonly string[]): [hash: string, delta: number][] {
  const deltas = new Map<string, number>()
  if (added !== undefined) deltas.set(added, 1)
  for (const hash of released) deltas.set(hash, (deltas.get(hash) ?? 0) - 1)
  return [...deltas].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}
