import type { PermissionSet } from '../security/permissions.js'

/** How an artifact's content is stored: JSON text, or raw bytes. */
export type ArtifactEncoding = 'json' | 'bytes'

/**
 * One kept version of an artifact without its content: what `history` and
 * `list` return. Structurally an agent's `Omit<ArtifactView, 'content'>`.
 *
 * @example
 * ```ts
 * const versions: ArtifactInfo[] = await store.history('orchestrator', 'report')
 * versions.map((v) => `${v.version} by ${v.createdBy} from ${v.basedOn}`)
 * ```
 */
export interface ArtifactInfo {
  /** The artifact id (`report`, `runs/42/summary.json`…). */
  readonly id: string
  /** 1, 2, 3… per artifact; every write makes a new one. */
  readonly version: number
  /** `json` for JSON content, `bytes` for a `Uint8Array`/`Buffer`. */
  readonly encoding: ArtifactEncoding
  /** SHA-256 (hex) of the stored bytes (the JSON text, or the bytes): equal content, equal hash, one stored copy. */
  readonly contentHash: string
  /** Size of the stored content in bytes. */
  readonly size: number
  /** The JSON object given with the write (`{}` when none). */
  readonly metadata: Readonly<Record<string, unknown>>
  /** The tags given with the write. */
  readonly tags: readonly string[]
  /** Lineage: the principal (agent name) that wrote this version. */
  readonly createdBy: string
  /** Lineage: wall-clock ms of the write. */
  readonly createdAt: number
  /** Lineage: the version this one was derived from (`null` for a first version). */
  readonly basedOn: number | null
  /** Lineage: the run the write happened in, or `null`. */
  readonly runId: string | null
  /** Lineage: the task the write happened in, or `null`. */
  readonly taskId: string | null
  /** Wall-clock ms after which the artifact is gone, or `null` (never). */
  readonly expiresAt: number | null
}

/**
 * One version of an artifact with its content: JSON content as a fresh copy
 * (changing it changes nothing stored), bytes as a `Uint8Array`.
 * Structurally an agent's `ArtifactView`.
 *
 * @example
 * ```ts
 * const a: Artifact = await store.get('writer', 'draft')
 * if (a.encoding === 'json') console.log(a.content)
 * ```
 */
export interface Artifact extends ArtifactInfo {
  /** The JSON value, or the bytes of a binary artifact. */
  readonly content: unknown
}

/** The options of a write an agent chooses (structurally an agent's `ArtifactPutOptions`). */
export interface ArtifactWriteOptions {
  /**
   * The version this write builds on. A number must be the latest version,
   * else `ARTIFACT_CONFLICT`; `null`: the artifact must not exist yet.
   * @default undefined (an unconditional write on top of the latest version)
   */
  readonly basedOn?: number | null
  /**
   * A JSON object kept with the version (at most 64 KiB as JSON).
   * @default {}
   */
  readonly metadata?: Readonly<Record<string, unknown>>
  /**
   * Tags for {@link ListArtifactsOptions.tag}: at most 32, each 1–100 letters, digits or `._-/:`.
   * @default []
   */
  readonly tags?: readonly string[]
  /**
   * Removes the artifact this many ms after the write (a later write without
   * `ttlMs` makes it permanent again).
   * @default undefined (never expires)
   */
  readonly ttlMs?: number
}

/** Where a write happened, recorded as lineage of the version. */
export interface ArtifactLineage {
  /**
   * The run the write belongs to.
   * @default null
   */
  readonly runId?: string | null
  /**
   * The task the write belongs to.
   * @default null
   */
  readonly taskId?: string | null
}

/**
 * Options of {@link ContextStore.put}: the write options plus lineage.
 *
 * @example
 * ```ts
 * const opts: PutArtifactOptions = { basedOn: 3, tags: ['draft'], runId: 'run_1', taskId: 'write' }
 * ```
 */
export interface PutArtifactOptions extends ArtifactWriteOptions, ArtifactLineage {}

/** Options of {@link ContextStore.get}. */
export interface GetArtifactOptions {
  /**
   * A kept version to read.
   * @default undefined (the latest)
   */
  readonly version?: number
}

/** Options of {@link ContextStore.list}. */
export interface ListArtifactsOptions {
  /**
   * Only artifacts whose latest version carries this tag.
   * @default undefined (no filter)
   */
  readonly tag?: string
  /**
   * Only artifacts whose id starts with this text.
   * @default undefined (no filter)
   */
  readonly prefix?: string
}

/** Options of {@link ContextStore.share}. */
export interface ShareOptions {
  /** How long the entry lives, in ms (required, > 0). */
  readonly ttlMs: number
}

/** What {@link ContextStore.sweep} removed. */
export interface SweepResult {
  /** Expired artifacts removed, with all their versions. */
  readonly artifacts: number
  /** Expired cache entries removed. */
  readonly cacheEntries: number
}

/**
 * Resolves a principal (an agent name) to its permissions; `undefined` means
 * unrestricted (the orchestrator itself, an operator's tool).
 *
 * @example
 * ```ts
 * const permissionsOf: PermissionsOf = (who) => (who === 'orchestrator' ? undefined : sets.get(who) ?? new PermissionSet([]))
 * ```
 */
export type PermissionsOf = (principal: string) => PermissionSet | undefined

/**
 * The artifacts of a context store as one principal sees them, with its
 * lineage filled in: what {@link ContextStore.as} returns, shaped like an
 * agent's `AgentArtifacts`.
 *
 * @example
 * ```ts
 * const artifacts: ArtifactAccess = store.as('writer', { runId, taskId })
 * await artifacts.put('draft', { text: 'hello' })
 * ```
 */
export interface ArtifactAccess {
  /** The latest version (or `version`); `ARTIFACT_NOT_FOUND`, `ARTIFACT_EXPIRED` or `PERMISSION_DENIED` otherwise. */
  get(id: string, options?: GetArtifactOptions): Promise<Artifact>
  /** Writes a new version. */
  put(id: string, content: unknown, options?: ArtifactWriteOptions): Promise<Artifact>
  /** The kept versions, oldest first, without content. */
  history(id: string): Promise<ArtifactInfo[]>
  /** Latest versions of the artifacts the principal may read. */
  list(options?: ListArtifactsOptions): Promise<ArtifactInfo[]>
  /** Deletes an artifact with all its versions; `false` if there is none. */
  delete(id: string): Promise<boolean>
}

/**
 * The shared cache as one principal sees it: what {@link ContextStore.cacheAs}
 * returns, shaped like an agent's `AgentCache`.
 *
 * @example
 * ```ts
 * const cache: CacheAccess = store.cacheAs('researcher')
 * await cache.share('search:cats', hits, { ttlMs: 60_000 })
 * ```
 */
export interface CacheAccess {
  /** Stores a JSON value under `key` for `ttlMs`. */
  share(key: string, value: unknown, options: ShareOptions): Promise<void>
  /** The value, or `undefined` when absent or expired. */
  get(key: string): Promise<unknown>
}
