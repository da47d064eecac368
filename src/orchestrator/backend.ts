import { isAbsolute, resolve } from 'node:path'
import { type Clock, systemClock } from '../core/clock.js'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { ContextBackend } from '../context/backend.js'
import { MemoryContextBackend } from '../context/memory/memory-context-backend.js'
import { SqliteContextBackend } from '../context/sqlite/sqlite-context-backend.js'
import type { Bus } from '../messaging/bus.js'
import type { AuditLogStore } from '../security/audit.js'
import type { LimiterFactory } from '../security/guard.js'
import { MemoryAuditLogStore } from '../security/memory/memory-audit-log.js'
import { MemorySecurityStore } from '../security/memory/memory-security-store.js'
import type { SecurityStore } from '../security/security-store.js'
import { SqliteAuditLogStore } from '../security/sqlite/sqlite-audit-log.js'
import { SqliteSecurityStore } from '../security/sqlite/sqlite-security-store.js'
import { DEFAULT_STORE_PATH, parseStoreSpec } from '../store/open-store.js'
import { MemoryStore } from '../store/memory/memory-store.js'
import type { PostgresStoreOptions } from '../db/postgres/options.js'
import type { TaskQueue } from '../store/queue.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import type { Store } from '../store/store.js'

/**
 * Everything Flotilla keeps, on one database: the run store, its task queue,
 * the message bus, the context backend (artifacts and cache) and the
 * security tables (API keys, blocks, the audit log). Open it
 * with {@link openBackend}; pass it to an Orchestrator or a Worker with the
 * `backend` option.
 */
export interface Backend {
  /** What the URL named. */
  readonly kind: 'memory' | 'sqlite' | 'postgres'
  /** Where it lives, with any password hidden (for messages). */
  readonly target: string
  /** Runs, tasks and events. */
  readonly store: Store
  /** The task queue of the store (workers claim attempts from it); `undefined` for memory. */
  readonly queue: TaskQueue | undefined
  /**
   * The message bus shared by every process on the backend: PostgreSQL only.
   * `undefined` for memory and SQLite (there is no SQLite bus yet): the
   * orchestrator then uses an in-process bus.
   */
  readonly bus: Bus | undefined
  /** Artifacts and cache (`ctx.artifacts`, `ctx.cache`), in the same database. */
  readonly context: ContextBackend
  /** API keys and blocks (`ApiKeys`, `RequestGuard`), in the same database. */
  readonly security: SecurityStore
  /** The hash-chained audit log (`AuditLog`), in the same database: one chain for every process on it. */
  readonly audit: AuditLogStore
  /**
   * Rate-limit counters every process on the backend shares (PostgreSQL);
   * `undefined`: each process counts for itself (memory, SQLite).
   */
  readonly rateLimiters?: () => Promise<LimiterFactory>
  /** Closes every part, then the shared pool or file. Idempotent. */
  close(): Promise<void>
}

/** Options of {@link openBackend}. */
export interface OpenBackendOptions {
  /**
   * The folder relative SQLite paths are resolved against.
   * @default process.cwd()
   */
  cwd?: string
  /** Time source of the queue and the bus. @default systemClock */
  clock?: Clock
  /**
   * PostgreSQL: the pool shared by the store, queue, bus and context
   * (`poolSize`, `schema`, `synchronousCommit`, `connectTimeoutMs`). The bus
   * holds one of its connections to LISTEN.
   * @default {}
   */
  postgres?: PostgresStoreOptions
}

/** The part of a backend that connects to PostgreSQL, loaded only for a postgres URL. */
const POSTGRES_BACKEND = './postgres-backend.js'

/**
 * Opens the backend a URL names, so that one setting configures everything
 * Flotilla keeps: `memory` (all in this process), `sqlite:<path>` or a path
 * ending in `.db`, `.sqlite` or `.sqlite3` (runs, queue and artifacts in one
 * file, shared by the processes of one host), or `postgres://…` (runs,
 * queue, bus and artifacts on one pool, shared by every process on the
 * database). API keys, blocks and the audit log (`security`, `audit`) live
 * in the same place. `undefined` means `$FLOTILLA_STORE`, else
 * `sqlite:.flotilla/flotilla.db`. A malformed URL is `STORE_URL_INVALID`; an
 * unreachable server or a missing `pg` package `STORE_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * import { Orchestrator, openBackend } from 'flotilla'
 *
 * const backend = await openBackend('memory')
 * const orchestrator = new Orchestrator({ backend })
 * await orchestrator.close()
 * await backend.close()
 * ```
 */
export async function openBackend(url?: string, options: OpenBackendOptions = {}): Promise<Backend> {
  const parsed = parseStoreSpec(url ?? defaultUrl())
  const clock = options.clock ?? systemClock
  if (parsed.kind === 'memory') {
    const store = new MemoryStore()
    return localBackend('memory', 'memory', store, undefined, new MemoryContextBackend(), {
      security: new MemorySecurityStore(),
      audit: new MemoryAuditLogStore(),
    })
  }
  if (parsed.kind === 'sqlite') {
    const path =
      parsed.path === ':memory:' || isAbsolute(parsed.path)
        ? parsed.path
        : resolve(options.cwd ?? process.cwd(), parsed.path)
    const store = SqliteStore.open({ path })
    const opened: { close(): Promise<void> }[] = [store]
    try {
      const context = SqliteContextBackend.open({ path })
      opened.push(context)
      const security = SqliteSecurityStore.open({ path })
      opened.push(security)
      const audit = SqliteAuditLogStore.open({ path })
      opened.push(audit)
      return localBackend('sqlite', path, store, store.queue(clock), context, { security, audit, closers: opened })
    } catch (e) {
      for (const part of opened.reverse()) await part.close().catch(() => undefined)
      throw e
    }
  }
  let mod: { openPostgresBackend(url: string, options: PostgresStoreOptions, clock: Clock): Promise<Backend> }
  try {
    mod = (await import(POSTGRES_BACKEND)) as typeof mod
  } catch (e) {
    if (isFlotillaError(e)) throw e
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `The PostgreSQL backend could not be loaded (${e instanceof Error ? e.message : String(e)}). Install the optional dependency with \`npm install pg\`, or use SQLite (sqlite:<path>).`,
      { cause: e, retryable: false },
    )
  }
  return mod.openPostgresBackend(parsed.url, options.postgres ?? {}, clock)
}

/** The security parts of a local backend, and (SQLite) what closes them. */
interface LocalSecurity {
  security: SecurityStore
  audit: AuditLogStore
  /** Every part to close, in the order opened (closed in reverse); default: the context, then the store. */
  closers?: readonly { close(): Promise<void> }[]
}

function localBackend(
  kind: 'memory' | 'sqlite',
  target: string,
  store: Store,
  queue: TaskQueue | undefined,
  context: ContextBackend,
  parts: LocalSecurity,
): Backend {
  let closing: Promise<void> | undefined
  const closers = parts.closers ?? [store, context]
  return {
    kind,
    target,
    store,
    queue,
    bus: undefined,
    context,
    security: parts.security,
    audit: parts.audit,
    close: () =>
      (closing ??= (async () => {
        for (const part of [...closers].reverse()) await part.close()
      })()),
  }
}

function defaultUrl(): string {
  const env = process.env.FLOTILLA_STORE
  return env !== undefined && env.trim() !== '' ? env : `sqlite:${DEFAULT_STORE_PATH}`
}
