import { FlotillaError } from '../../core/errors.js'
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
import type { ArtifactInfo } from '../types.js'

interface Blob {
  readonly bytes: Uint8Array
  refs: number
}

interface StoredArtifact {
  head: ArtifactHead
  /** Kept versions, oldest first. */
  versions: ArtifactInfo[]
}

/**
 * The in-memory {@link ContextBackend}: for tests, single-process use and
 * `flotilla/testing`. Everything is gone with the process. Each method runs
 * without awaiting, so it is atomic.
 *
 * @example
 * ```ts
 * const store = new ContextStore(new MemoryContextBackend(), { clock: new FakeClock() })
 * ```
 */
export class MemoryContextBackend implements ContextBackend {
  readonly kind = 'memory'
  readonly durable = false
  private readonly artifacts = new Map<string, StoredArtifact>()
  private readonly blobs = new Map<string, Blob>()
  private readonly cache = new Map<string, StoredCacheEntry>()
  private closed = false

  async head(id: string): Promise<ArtifactHead | undefined> {
    return this.open().artifacts.get(id)?.head
  }

  async read(id: string, version: number | undefined): Promise<StoredRead | undefined> {
    const a = this.open().artifacts.get(id)
    if (a === undefined) return undefined
    const wanted = version ?? a.head.latest
    const v = a.versions.find((x) => x.version === wanted)
    return { head: a.head, version: v, bytes: v === undefined ? undefined : this.blobs.get(v.contentHash)?.bytes }
  }

  async history(id: string): Promise<StoredHistory | undefined> {
    const a = this.open().artifacts.get(id)
    return a === undefined ? undefined : { head: a.head, versions: [...a.versions] }
  }

  async list(filter: { readonly prefix?: string; readonly tag?: string }): Promise<ArtifactInfo[]> {
    const out: ArtifactInfo[] = []
    for (const [id, a] of this.open().artifacts) {
      if (filter.prefix !== undefined && !id.startsWith(filter.prefix)) continue
      const latest = a.versions[a.versions.length - 1]
      if (filter.tag !== undefined && !latest.tags.includes(filter.tag)) continue
      out.push(latest)
    }
    return out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
  }

  async write(w: VersionWrite): Promise<boolean> {
    const current = this.open().artifacts.get(w.record.id)
    if ((current?.head.latest ?? null) !== w.expectLatest) return false
    const kept = current?.versions.filter((v) => v.version > w.dropThrough) ?? []
    const released = current?.versions.filter((v) => v.version <= w.dropThrough).map((v) => v.contentHash) ?? []
    this.adjust(blobDeltas(w.record.contentHash, released), w.bytes)
    kept.push(Object.freeze({ ...w.record }))
    this.artifacts.set(w.record.id, {
      head: Object.freeze({ latest: w.record.version, expiresAt: w.record.expiresAt }),
      versions: kept,
    })
    return true
  }

  async remove(id: string, expiredBy?: number): Promise<boolean> {
    const a = this.open().artifacts.get(id)
    if (a === undefined) return false
    if (expiredBy !== undefined && !(a.head.expiresAt !== null && a.head.expiresAt <= expiredBy)) return false
    this.drop(id, a)
    return true
  }

  async sweep(now: number): Promise<{ artifacts: number; cacheEntries: number }> {
    let artifacts = 0
    let cacheEntries = 0
    for (const [id, a] of this.open().artifacts) {
      if (a.head.expiresAt !== null && a.head.expiresAt <= now) {
        this.drop(id, a)
        artifacts++
      }
    }
    for (const [key, entry] of this.cache) {
      if (entry.expiresAt <= now) {
        this.cache.delete(key)
        cacheEntries++
      }
    }
    return { artifacts, cacheEntries }
  }

  async cachePut(key: string, entry: StoredCacheEntry): Promise<void> {
    this.open().cache.set(key, { text: entry.text, expiresAt: entry.expiresAt })
  }

  async cacheGet(key: string): Promise<StoredCacheEntry | undefined> {
    return this.open().cache.get(key)
  }

  async cacheRemove(key: string, expiredBy: number): Promise<boolean> {
    const entry = this.open().cache.get(key)
    if (entry === undefined || entry.expiresAt > expiredBy) return false
    return this.cache.delete(key)
  }

  async stats(): Promise<ContextStats> {
    let versions = 0
    for (const a of this.open().artifacts.values()) versions += a.versions.length
    let blobBytes = 0
    for (const b of this.blobs.values()) blobBytes += b.bytes.byteLength
    return {
      artifacts: this.artifacts.size,
      versions,
      blobs: this.blobs.size,
      blobBytes,
      cacheEntries: this.cache.size,
    }
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private open(): this {
    if (this.closed)
      throw new FlotillaError('STORE_UNAVAILABLE', 'The in-memory context store was closed; open a new one.', {
        retryable: false,
      })
    return this
  }

  private drop(id: string, a: StoredArtifact): void {
    this.artifacts.delete(id)
    this.adjust(
      blobDeltas(
        undefined,
        a.versions.map((v) => v.contentHash),
      ),
      undefined,
    )
  }

  /** Applies reference count changes; `bytes` is the content of the added blob. */
  private adjust(deltas: [string, number][], bytes: Uint8Array | undefined): void {
    for (const [hash, delta] of deltas) {
      const blob = this.blobs.get(hash)
      if (blob === undefined) {
        if (delta > 0 && bytes !== undefined) this.blobs.set(hash, { bytes: new Uint8Array(bytes), refs: delta })
        continue
      }
      blob.refs += delta
      if (blob.refs <= 0) this.blobs.delete(hash)
    }
  }
}
