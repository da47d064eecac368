import { existsSync } from 'node:fs'
import { isAbsolute, relative, resolve } from 'node:path'
import { FlotillaError } from '../core/errors.js'
import { DEFAULT_STORE_PATH, openStoreAsync, parseStoreSpec } from '../store/open-store.js'
import { MemoryStore } from '../store/memory/memory-store.js'
import type { Store } from '../store/store.js'
import { openBackend, type Backend } from '../orchestrator/backend.js'

/** The help lines of `--store`, shared by every command that takes it. */
export const STORE_HELP = `      --store SPEC        Where runs are stored: a file (runs.db, sqlite:PATH),
                          postgres://user@host:port/db, or memory. Default:
                          $FLOTILLA_STORE, else .flotilla/flotilla.db here`

/** The store a command uses, opened. */
export interface CliStore {
  store: Store
  /** The spec, as given or defaulted. */
  spec: string
  /** A short name for messages: a path relative to the working folder, a URL without its password, or `memory`. */
  label: string
  /** False when the store is a SQLite file that does not exist (the command then sees an empty store and creates nothing). */
  exists: boolean
}

/** The store spec a command uses: `--store`, else `$FLOTILLA_STORE`, else `sqlite:.flotilla/flotilla.db`. */
export function storeSpec(flag: string | undefined): string {
  if (flag !== undefined) return flag
  const env = process.env.FLOTILLA_STORE
  return env !== undefined && env.trim() !== '' ? env : `sqlite:${DEFAULT_STORE_PATH}`
}

/**
 * A short, password-free name of a store spec for messages, e.g.
 * `.flotilla/flotilla.db` or `postgres://app:***@db:5432/flotilla`. Throws
 * `STORE_URL_INVALID` for a malformed spec (before anything is opened).
 */
export function storeLabel(spec: string, cwd = process.cwd()): string {
  const parsed = parseStoreSpec(spec)
  if (parsed.kind === 'memory') return 'memory'
  if (parsed.kind === 'postgres') return parsed.url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@')
  if (parsed.path === ':memory:') return 'sqlite::memory:'
  const full = sqlitePath(parsed.path, cwd)
  const rel = relative(cwd, full)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : full
}

function sqlitePath(path: string, cwd: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path)
}

/** Options of {@link openCliStore}. */
export interface OpenCliStoreOptions {
  /**
   * When true, a SQLite file that does not exist is not created: the command
   * sees an empty store instead (listing, inspecting and managing runs never
   * leave a new file behind). @default false
   */
  readOnlyIfMissing?: boolean
  cwd?: string
}

/**
 * Opens the store of `--store` (or its default). Malformed specs are
 * `STORE_URL_INVALID`; unreachable stores `STORE_UNAVAILABLE`; a foreign
 * file `STORE_NOT_FLOTILLA`; a store of a newer schema `STORE_SCHEMA_TOO_NEW`.
 *
 * @example
 * ```ts
 * const { store, label } = await openCliStore(values.store, { readOnlyIfMissing: true })
 * ```
 */
export async function openCliStore(flag: string | undefined, options: OpenCliStoreOptions = {}): Promise<CliStore> {
  const cwd = options.cwd ?? process.cwd()
  const spec = storeSpec(flag)
  const label = storeLabel(spec, cwd)
  const parsed = parseStoreSpec(spec)
  if (
    options.readOnlyIfMissing === true &&
    parsed.kind === 'sqlite' &&
    parsed.path !== ':memory:' &&
    !existsSync(sqlitePath(parsed.path, cwd))
  ) {
    return { store: new MemoryStore(), spec, label, exists: false }
  }
  return { store: await openStoreAsync(spec, { cwd }), spec, label, exists: true }
}

/** `RUN_NOT_FOUND` for `runId`, saying which store was searched and how to look elsewhere. */
export function runNotFound(runId: string, store: CliStore): FlotillaError {
  const where = store.exists
    ? `the store ${store.label}`
    : `the store ${store.label}, which does not exist yet (no run was stored there)`
  return new FlotillaError(
    'RUN_NOT_FOUND',
    `No run "${runId}" in ${where}. List the stored runs with "flotilla runs list"; name another store with --store or FLOTILLA_STORE.`,
    {
      details: { runId, store: store.label },
    },
  )
}

/**
 * Opens the whole backend of `--store` (or its default) for a command that
 * runs agents: the store, and with PostgreSQL the bus and the context tables
 * too, so agents of a CLI run share messages and artifacts with workers.
 * Fails like {@link openCliStore}.
 *
 * @example
 * ```ts
 * const backend = await openCliBackend(values.store)
 * ```
 */
export function openCliBackend(flag: string | undefined, cwd: string = process.cwd()): Promise<Backend> {
  return openBackend(storeSpec(flag), { cwd })
}
