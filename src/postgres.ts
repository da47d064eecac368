/**
 * The PostgreSQL store: `flotilla/postgres`. Needs the optional peer
 * dependency `pg` (`npm install pg`); the main entry never loads it.
 *
 * @example
 * ```ts
 * import { Orchestrator } from 'flotilla'
 * import { PostgresStore } from 'flotilla/postgres'
 *
 * const store = await PostgresStore.connect('postgres://postgres@127.0.0.1:5432/app')
 * const orchestrator = new Orchestrator({ store })
 * ```
 *
 * @packageDocumentation
 */
export { PostgresStore } from './store/postgres/postgres-store.js'
export type { PostgresStoreOptions } from './store/postgres/options.js'
