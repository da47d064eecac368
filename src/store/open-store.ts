import { isAbsolute, resolve } from 'node:path'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { LazyStore } from './lazy-store.js'
import { MemoryStore } from './memory/memory-store.js'
import { SqliteStore } from './sqlite/sqlite-store.js'
import type { Store } from './store.js'

/** Where the embedded store lives unless told otherwise, relative to the working folder. */
export const DEFAULT_STORE_PATH = '.flotilla/flotilla.db'

/** Options of {@link openStore} and {@link openStoreAsync}. */
export interface OpenStoreOptions {
  /**
   * The folder relative paths are resolved against.
   * @default process.cwd()
   */
  cwd?: string
}

/** What a store spec names, once parsed by {@link parseStoreSpec}. */
export type ParsedStoreSpec = { kind: 'memory' } | { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string }

const ACCEPTED =
  'memory, sqlite:<path>, sqlite://<path>, a file path ending in .db, .sqlite or .sqlite3, or postgres://user@host:port/database'
const SQLITE_FILE = /\.(db|sqlite3?)$/i
const POSTGRES = /^postgres(ql)?:\/\//i

/** The module of the PostgreSQL adapter, loaded only when a postgres URL is used (it needs the optional `pg` package). */
const POSTGRES_MODULE = './postgres/postgres-store.js'

/**
 * Opens the store a spec names: a {@link Store} is returned as it is;
 * `memory` is a {@link MemoryStore}; `sqlite:<path>`, `sqlite://<path>` or a
 * path ending in `.db`, `.sqlite` or `.sqlite3` is a {@link SqliteStore}
 * (relative to `cwd`); `undefined` means `$FLOTILLA_STORE`, else
 * `sqlite:.flotilla/flotilla.db`. A `postgres://` or `postgresql://` URL
 * gives a {@link LazyStore}: PostgreSQL connects asynchronously, at the first
 * call, which fails with `STORE_UNAVAILABLE` when the server cannot be
 * reached (use {@link openStoreAsync} to connect, and fail, at once).
 * Anything else is `STORE_URL_INVALID`.
 *
 * @example
 * ```ts
 * const store = openStore(process.env.CI ? 'memory' : undefined)
 * ```
 */
export function openStore(spec: string | Store | undefined, options: OpenStoreOptions = {}): Store {
  if (isStore(spec)) return spec
  const parsed = parseStoreSpec(spec ?? defaultSpec())
  if (parsed.kind === 'postgres') {
    const url = parsed.url
    return new LazyStore(() => connectPostgres(url, () => import(POSTGRES_MODULE) as Promise<unknown>), {
      kind: 'postgres',
      target: redact(url),
    })
  }
  return openParsed(parsed, options)
}

/**
 * {@link openStore} for every kind of store, PostgreSQL included
 * (`postgres://` or `postgresql://`, loaded on demand with the optional `pg`
 * package). A missing adapter or `pg` package, or an unreachable server, is
 * `STORE_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * const store = await openStoreAsync('postgres://postgres@127.0.0.1:5432/flotilla')
 * ```
 */
export async function openStoreAsync(spec: string | Store | undefined, options: OpenStoreOptions = {}): Promise<Store> {
  if (isStore(spec)) return spec
  const parsed = parseStoreSpec(spec ?? defaultSpec())
  if (parsed.kind !== 'postgres') return openParsed(parsed, options)
  return connectPostgres(parsed.url, () => import(POSTGRES_MODULE) as Promise<unknown>)
}

/**
 * Connects to PostgreSQL through the adapter module `load` returns (a module
 * exporting `PostgresStore.connect(url)`). Internal; exported for tests.
 */
export async function connectPostgres(url: string, load: () => Promise<unknown>): Promise<Store> {
  let mod: unknown
  try {
    mod = await load()
  } catch (e) {
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `The PostgreSQL store adapter could not be loaded (${e instanceof Error ? e.message : String(e)}). Install the optional dependency with \`npm install pg\`, or use a SQLite store (sqlite:<path>).`,
      {
        details: { url: redact(url) },
        cause: e,
        retryable: false,
      },
    )
  }
  const connect = postgresConnect(mod)
  if (connect === undefined) {
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      'The PostgreSQL store adapter does not export PostgresStore.connect(url); reinstall Flotilla.',
      { details: { url: redact(url) }, retryable: false },
    )
  }
  let store: unknown
  try {
    store = await connect(url)
  } catch (e) {
    if (isFlotillaError(e)) throw e
    throw new FlotillaError(
      'STORE_UNAVAILABLE',
      `Cannot connect to the PostgreSQL store ${redact(url)}: ${e instanceof Error ? e.message : String(e)}. Check the URL and that the server is running.`,
      {
        details: { url: redact(url) },
        cause: e,
      },
    )
  }
  if (!isStore(store))
    throw new FlotillaError('STORE_UNAVAILABLE', 'PostgresStore.connect did not return a store; reinstall Flotilla.', {
      details: { url: redact(url) },
      retryable: false,
    })
  return store
}

/**
 * Parses a store spec without opening anything; `STORE_URL_INVALID` lists
 * the accepted forms.
 *
 * @example
 * ```ts
 * parseStoreSpec('sqlite:runs.db') // { kind: 'sqlite', path: 'runs.db' }
 * ```
 */
export function parseStoreSpec(spec: string): ParsedStoreSpec {
  const text = spec.trim()
  if (text.toLowerCase() === 'memory') return { kind: 'memory' }
  if (POSTGRES.test(text)) return { kind: 'postgres', url: text }
  const sqlite = /^sqlite:(\/\/)?(.*)$/i.exec(text)
  if (sqlite) {
    const path = sqlite[2]
    if (path.length === 0) throw invalid(spec, 'it names no file')
    return { kind: 'sqlite', path }
  }
  if (SQLITE_FILE.test(text) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return { kind: 'sqlite', path: text }
  throw invalid(spec, 'it is not a form Flotilla knows')
}

function openParsed(parsed: Exclude<ParsedStoreSpec, { kind: 'postgres' }>, options: OpenStoreOptions): Store {
  if (parsed.kind === 'memory') return new MemoryStore()
  const path =
    parsed.path === ':memory:' || isAbsolute(parsed.path)
      ? parsed.path
      : resolve(options.cwd ?? process.cwd(), parsed.path)
  return SqliteStore.open({ path })
}

function defaultSpec(): string {
  const env = process.env.FLOTILLA_STORE
  return env !== undefined && env.trim() !== '' ? env : `sqlite:${DEFAULT_STORE_PATH}`
}

function invalid(spec: string, why: string): FlotillaError {
  return new FlotillaError('STORE_URL_INVALID', `The store "${redact(spec)}" is not valid: ${why}. Use ${ACCEPTED}.`, {
    details: { store: redact(spec) },
  })
}

/** True for an object that has the methods of a {@link Store}. */
function isStore(value: unknown): value is Store {
  if (typeof value !== 'object' || value === null) return false
  const s = value as Record<string, unknown>
  return (
    typeof s.commit === 'function' &&
    typeof s.getRun === 'function' &&
    typeof s.listEvents === 'function' &&
    typeof s.close === 'function'
  )
}

function postgresConnect(mod: unknown): ((url: string) => unknown) | undefined {
  if (typeof mod !== 'object' || mod === null) return undefined
  const cls = (mod as { PostgresStore?: unknown }).PostgresStore
  if ((typeof cls !== 'function' && typeof cls !== 'object') || cls === null) return undefined
  const connect = (cls as { connect?: unknown }).connect
  return typeof connect === 'function'
    ? (url: string) => (connect as (url: string) => unknown).call(cls, url)
    : undefined
}

/** A URL with its password hidden, for messages and details. */
function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@')
}
