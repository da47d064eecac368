import type { Clock } from '../core/clock.js'
import type { Authorizer, Resource } from '../security/authorizer.js'
import type { ArtifactHead, ContextBackend, ContextStats } from './backend.js'
import { decodeContent, encodeContent, encodeJsonText } from './encode.js'
import { TaskJournal } from './journal.js'
import { artifactView, cacheView } from './context-views.js'
import { versionRecord } from './artifact-version.js'
import { checkContextStoreOptions, type ContextStoreOptions } from './context-options.js'
import {
  artifactExpired,
  cacheValueTooLarge,
  conflict,
  expired,
  notFound,
  shareNeedsTtl,
  tooManyWriters,
  versionNotKept,
} from './context-errors.js'
import type {
  Artifact,
  ArtifactAccess,
  ArtifactInfo,
  ArtifactLineage,
  CacheAccess,
  GetArtifactOptions,
  ListArtifactsOptions,
  PermissionsOf,
  PutArtifactOptions,
  ShareOptions,
  SweepResult,
} from './types.js'
import {
  checkArtifactId,
  checkCacheKey,
  checkListFilter,
  checkPrincipal,
  checkPutOptions,
  checkTtl,
  checkVersion,
} from './validate.js'

export { checkContextStoreOptions } from './context-options.js'
export type { ContextStoreOptions, ResolvedContextStoreOptions } from './context-options.js'

/** How often a write retries its compare-and-set when concurrent writers keep moving the head. */
const MAX_WRITE_ATTEMPTS = 50

/**
 * Shared artifacts and a shared short-lived cache for the agents of a team
 * (DESIGN.md, ContextStore). Artifacts are versioned (every write makes
 * version n + 1; the last `keepVersions` are kept), carry lineage (who, when,
 * from which version, in which run and task), may expire, and are written
 * with optimistic concurrency (`basedOn`). Content is JSON or bytes, stored
 * once by its SHA-256. Every operation names its principal and is checked
 * against `artifact:<id>` / `cache:<key>` permissions.
 *
 * The logic lives here once; a {@link ContextBackend} (memory, SQLite,
 * PostgreSQL) only stores, with an atomic compare-and-set per write, so
 * several stores on one database (several processes) stay consistent.
 *
 * @example
 * ```ts
 * const store = new ContextStore(new MemoryContextBackend())
 * const v1 = await store.put('writer', 'draft', { text: 'hello' }, { basedOn: null })
 * await store.put('editor', 'draft', { text: 'Hello.' }, { basedOn: v1.version })
 * const latest = await store.get('reader', 'draft') // version 2, basedOn 1, createdBy "editor"
 * ```
 */
export class ContextStore {
  /** The storage adapter. */
  readonly backend: ContextBackend
  /** How many versions of each artifact are kept. */
  readonly keepVersions: number
  /** The largest content or cache value, in bytes. */
  readonly maxContentBytes: number
  private readonly clock: Clock
  private readonly permissionsOf: PermissionsOf | undefined
  private readonly authorizer: Authorizer
  /** The journal of durable steps of tasks, in the same backend. */
  readonly journal: TaskJournal

  constructor(backend: ContextBackend, options: ContextStoreOptions = {}) {
    const o = checkContextStoreOptions(options)
    this.backend = backend
    this.keepVersions = o.keepVersions
    this.maxContentBytes = o.maxContentBytes
    this.clock = o.clock
    this.permissionsOf = o.permissionsOf
    this.authorizer = o.authorizer
    this.journal = new TaskJournal(backend, o.clock)
  }

  /**
   * Reads the latest version of an artifact, or a kept `version`. Fails with
   * `ARTIFACT_NOT_FOUND` (no such artifact or version), `ARTIFACT_EXPIRED`
   * (it outlived its TTL; it is removed) or `PERMISSION_DENIED` (`read`).
   *
   * @example
   * ```ts
   * const first = await store.get('reviewer', 'report', { version: 1 })
   * ```
   */
  async get(principal: string, id: string, options: GetArtifactOptions = {}): Promise<Artifact> {
    this.authorize(principal, { kind: 'artifact', id: checkArtifactId(id) }, 'read')
    const version = options?.version === undefined ? undefined : checkVersion(options.version, 'version')
    const found = await this.backend.read(id, version)
    if (found === undefined) throw notFound(id)
    await this.refuseExpired(id, found.head)
    if (found.version === undefined || found.bytes === undefined) {
      throw versionNotKept(id, version, found.head.latest, this.keepVersions)
    }
    return { ...found.version, content: decodeContent(found.version.encoding, found.bytes) }
  }

  /**
   * Writes a new version of an artifact (`PERMISSION_DENIED` without
   * `write`). With `basedOn: n` the write succeeds only if `n` is still the
   * latest version, with `basedOn: null` only if the artifact does not exist;
   * otherwise `ARTIFACT_CONFLICT` (details: id, basedOn, latest): read it
   * again and reapply the change. Of concurrent writers with the same
   * `basedOn`, exactly one wins. Bad content or options are
   * `VALIDATION_FAILED`, and a failed write changes nothing.
   *
   * @example
   * ```ts
   * const v = await store.put('writer', 'report', { findings: [] }, { basedOn: null, tags: ['draft'], ttlMs: 3_600_000, runId, taskId })
   * ```
   */
  async put(principal: string, id: string, content: unknown, options?: PutArtifactOptions): Promise<Artifact> {
    const who = this.authorize(principal, { kind: 'artifact', id: checkArtifactId(id) }, 'write')
    const o = checkPutOptions(options)
    const encoded = encodeContent(content, this.maxContentBytes)
    for (let attempt = 1; ; attempt++) {
      const head = await this.backend.head(id)
      const now = this.clock.wallNow()
      const gone = head !== undefined && expired(head, now)
      const live = gone ? undefined : head
      if (gone && typeof o.basedOn === 'number') await this.refuseExpired(id, head)
      if (o.basedOn !== undefined && o.basedOn !== (live?.latest ?? null))
        throw conflict(id, o.basedOn, live?.latest ?? null)
      const version = live === undefined ? 1 : live.latest + 1
      const record = versionRecord(id, version, encoded, o, who, now, live?.latest ?? null)
      const dropThrough = head === undefined ? 0 : gone ? head.latest : Math.max(0, version - this.keepVersions)
      if (await this.backend.write({ record, bytes: encoded.bytes, expectLatest: head?.latest ?? null, dropThrough })) {
        return { ...record, content: decodeContent(encoded.encoding, encoded.bytes) }
      }
      // Another writer moved the head between our read and our write: decide again on the new head.
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw tooManyWriters(id, attempt)
      }
    }
  }

  /**
   * The kept versions of an artifact with their lineage, oldest first,
   * without content. `ARTIFACT_NOT_FOUND`, `ARTIFACT_EXPIRED` or
   * `PERMISSION_DENIED` (`read`) otherwise.
   *
   * @example
   * ```ts
   * for (const v of await store.history('auditor', 'report')) console.log(v.version, v.createdBy, v.basedOn)
   * ```
   */
  async history(principal: string, id: string): Promise<ArtifactInfo[]> {
    this.authorize(principal, { kind: 'artifact', id: checkArtifactId(id) }, 'read')
    const found = await this.backend.history(id)
    if (found === undefined) throw notFound(id)
    await this.refuseExpired(id, found.head)
    return found.versions
  }

  /**
   * The latest versions of the artifacts `principal` may read, by id,
   * without content; expired ones are left out. Filter by a tag of the latest
   * version and by an id prefix.
   *
   * @example
   * ```ts
   * const drafts = await store.list('editor', { tag: 'draft', prefix: 'runs/42/' })
   * ```
   */
  async list(principal: string, options?: ListArtifactsOptions): Promise<ArtifactInfo[]> {
    const permissions = this.permissionsFor(principal)
    const filter = checkListFilter(options)
    const now = this.clock.wallNow()
    const all = await this.backend.list(filter)
    return this.authorizer.filter(
      { name: principal, permissions },
      all.filter((a) => !expired(a, now)),
      (a) => ({ kind: 'artifact', id: a.id }),
      'read',
    )
  }

  /**
   * Deletes an artifact with all its versions (`PERMISSION_DENIED` without
   * `delete`); `false` when there is none (or it had expired).
   *
   * @example
   * ```ts
   * await store.delete('cleaner', 'scratch/tmp-1')
   * ```
   */
  async delete(principal: string, id: string): Promise<boolean> {
    this.authorize(principal, { kind: 'artifact', id: checkArtifactId(id) }, 'delete')
    const head = await this.backend.head(id)
    if (head === undefined) return false
    const now = this.clock.wallNow()
    if (expired(head, now)) {
      await this.backend.remove(id, now)
      return false
    }
    return this.backend.remove(id)
  }

  /**
   * Puts a JSON value in the shared cache under `key` for `ttlMs` (required,
   * > 0), replacing an existing entry; `PERMISSION_DENIED` without `cache:<key>` `write`.
   *
   * @example
   * ```ts
   * await store.share('researcher', 'search:cats', hits, { ttlMs: 60_000 })
   * ```
   */
  async share(principal: string, key: string, value: unknown, options: ShareOptions): Promise<void> {
    this.authorize(principal, { kind: 'cache', key: checkCacheKey(key) }, 'write')
    if (typeof options !== 'object' || options === null) throw shareNeedsTtl()
    const ttlMs = checkTtl(options.ttlMs)
    const text = encodeJsonText(value, 'value')
    const size = Buffer.byteLength(text)
    if (size > this.maxContentBytes) throw cacheValueTooLarge(size, this.maxContentBytes)
    await this.backend.cachePut(key, { text, expiresAt: this.clock.wallNow() + ttlMs })
  }

  /**
   * The cached value under `key` (a fresh copy), or `undefined` when absent
   * or expired; `PERMISSION_DENIED` without `cache:<key>` `read`.
   *
   * @example
   * ```ts
   * const hits = (await store.getShared('summarizer', 'search:cats')) ?? (await search('cats'))
   * ```
   */
  async getShared(principal: string, key: string): Promise<unknown> {
    this.authorize(principal, { kind: 'cache', key: checkCacheKey(key) }, 'read')
    const entry = await this.backend.cacheGet(key)
    if (entry === undefined) return undefined
    const now = this.clock.wallNow()
    if (entry.expiresAt <= now) {
      await this.backend.cacheRemove(key, now)
      return undefined
    }
    return JSON.parse(entry.text) as unknown
  }

  /**
   * Removes the expired artifacts and cache entries now (reads already
   * refuse and remove them one by one); returns how many went.
   *
   * @example
   * ```ts
   * const { artifacts, cacheEntries } = await store.sweep()
   * ```
   */
  async sweep(): Promise<SweepResult> {
    return this.backend.sweep(this.clock.wallNow())
  }

  /** What the backend holds (artifacts, versions, distinct contents and their bytes, cache entries). */
  async stats(): Promise<ContextStats> {
    return this.backend.stats()
  }

  /**
   * The artifacts as `principal` sees them, with `lineage` (run, task)
   * recorded on each write: an object shaped like an agent's
   * `AgentArtifacts`, to put in its context.
   *
   * @example
   * ```ts
   * const artifacts = store.as('writer', { runId: ctx.runId, taskId: ctx.taskId })
   * const draft = await artifacts.get('draft')
   * await artifacts.put('draft', revise(draft.content), { basedOn: draft.version })
   * ```
   */
  as(principal: string, lineage: ArtifactLineage = {}): ArtifactAccess {
    return artifactView(this, principal, lineage)
  }

  /**
   * The shared cache as `principal` sees it: an object shaped like an
   * agent's `AgentCache`.
   *
   * @example
   * ```ts
   * const cache = store.cacheAs('researcher')
   * await cache.share('search:cats', hits, { ttlMs: 60_000 })
   * ```
   */
  cacheAs(principal: string): CacheAccess {
    return cacheView(this, principal)
  }

  /** Closes the backend. */
  async close(): Promise<void> {
    await this.backend.close()
  }

  private permissionsFor(principal: string): ReturnType<PermissionsOf> {
    const who = checkPrincipal(principal)
    return this.permissionsOf?.(who)
  }

  /** Throws `PERMISSION_DENIED` unless `principal` may take `action` on `resource`; returns the principal. */
  private authorize(principal: string, resource: Resource, action: 'read' | 'write' | 'delete'): string {
    this.authorizer.authorize({ name: principal, permissions: this.permissionsFor(principal) }, resource, action)
    return principal
  }

  /** Removes an expired artifact and throws `ARTIFACT_EXPIRED`; does nothing for a live one. */
  private async refuseExpired(id: string, head: ArtifactHead): Promise<void> {
    const now = this.clock.wallNow()
    if (!expired(head, now)) return
    await this.backend.remove(id, now)
    throw artifactExpired(id, head)
  }
}
