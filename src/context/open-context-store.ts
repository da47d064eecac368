import { isAbsolute, resolve } from 'node:path'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { DEFAULT_STORE_PATH, parseStoreSpec } from '../store/open-store.js'
import type { ContextBackend } from './backend.js'
import { checkContextStoreOptions, ContextStore, type ContextStoreOptions } from './context-store.js'
import { MemoryContextBackend } from './memory/memory-context-backend.js'
import type { PostgresContextBackend, PostgresContextBackendOptions } from './postgres/postgres-context-backend.js'
import { SqliteContextBackend } from './sqlite/sqlite-context-backend.js'

/** Options of {@link openContextStore}: where the store lives, plus the {@link ContextStoreOptions}. */
export interface OpenContextStoreOptions extends ContextStoreOptions {
  /**
   * Where the artifacts live, written like a store URL: `memory`,
   * `sqlite:<path>` or a path ending in `.db`/`.sqlite`/`.sqlite3` (the
   * Flotilla store's file may be shared), or `postgres://…` (tables in the
   * schema of the Flotilla store; `?schema=` picks it).
   * @default $FLOTILLA_STORE, else "sqlite:.flotilla/flotilla.db"
   */
  url?: string
  /**
   * The folder relative SQLite paths are resolved against.
   * @default process.cwd()
   */
  cwd?: string
  /**
   * SQLite: how long a write waits for another process's lock, in ms.
   * @default 5000
   */
  busyTimeoutMs?: number
  /**
   * PostgreSQL: connection options (`schema`, `poolSize`, `connectTimeoutMs`…).
   * @default {}
   */
  postgres?: PostgresContextBackendOptions
}

/**
 * Opens a {@link ContextStore} on the backend a URL names, as `openStoreAsync`
 * opens a store: `memory`, an SQLite file (created when missing, shareable
 * with the Flotilla store), or PostgreSQL (the adapter and `pg` are loaded
 * only then). A malformed URL is `STORE_URL_INVALID`; an unreachable database
 * `STORE_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * const context = await openContextStore({ url: 'sqlite:.flotilla/flotilla.db', keepVersions: 20, permissionsOf })
 * const draft = await context.get('writer', 'draft')
 * ```
 */
export async function openContextStore(options: OpenContextStoreOptions = {}): Promise<ContextStore> {
  const { url, cwd, busyTimeoutMs, postgres, ...storeOptions } = options
  checkContextStoreOptions(storeOptions) // before opening (and maybe creating) anything
  const backend = await openBackend(url ?? defaultUrl(), { cwd, busyTimeoutMs, postgres })
  return new ContextStore(backend, storeOptions)
}

async function openBackend(
  url: string,
  o: Pick<OpenContextStoreOptions, 'cwd' | 'busyTimeoutMs' | 'postgres'>,
): Promise<ContextBackend> {
  const parsed = parseStoreSpec(url)
  switch (parsed.kind) {
    case 'memory':
      return new MemoryContextBackend()
    case 'sqlite': {
      const path =
        parsed.path === ':memory:' || isAbsolute(parsed.path)
          ? parsed.path
          : resolve(o.cwd ?? process.cwd(), parsed.path)
      return SqliteContextBackend.open({
        path,
        ...(o.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: o.busyTimeoutMs }),
      })
    }
    case 'postgres': {
      let mod: { PostgresContextBackend: typeof PostgresContextBackend }
      try {
        mod = await import('./postgres/postgres-context-backend.js')
      } catch (e) {
        if (isFlotillaError(e)) throw e
        throw new FlotillaError(
          'STORE_UNAVAILABLE',
          `The PostgreSQL context store adapter could not be loaded (${e instanceof Error ? e.message : String(e)}). Install the optional dependency with \`npm install pg\`, or use SQLite (sqlite:<path>).`,
          {
            cause: e,
            retryable: false,
          },
        )
      }
      return mod.PostgresContextBackend.connect(parsed.url, o.postgres)
    }
  }
}

function defaultUrl(): string {
  const env = process.env.FLOTILLA_STORE
  return env !== undefined && env.trim() !== '' ? env : `sqlite:${DEFAULT_STORE_PATH}`
}
