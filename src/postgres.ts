/**
 * The PostgreSQL store and bus: `flotilla/postgres`. Needs the optional peer
 * dependency `pg` (`npm install pg`); the main entry never loads it.
 *
 * @example
 * ```ts
 * import { Orchestrator } from 'flotilla'
 * import { PostgresStore, openPostgresBus } from 'flotilla/postgres'
 *
 * const store = await PostgresStore.connect('postgres://postgres@127.0.0.1:5432/app')
 * const orchestrator = new Orchestrator({ store })
 *
 * // Agents in other processes reach one another through the same database:
 * const bus = await openPostgresBus({ connectionString: 'postgres://postgres@127.0.0.1:5432/app' })
 * ```
 *
 * @packageDocumentation
 */
export { PostgresStore } from './store/postgres/postgres-store.js'
export type { PostgresStoreOptions } from './db/postgres/options.js'
export { PostgresBus, openPostgresBus } from './messaging/postgres/postgres-bus.js'
export type { PostgresBusOptions } from './messaging/postgres/options.js'
export { PostgresContextBackend } from './context/postgres/postgres-context-backend.js'
export type { PostgresContextBackendOptions } from './context/postgres/postgres-context-backend.js'
export { PostgresSecurityStore } from './security/postgres/postgres-security-store.js'
export { PostgresAuditLogStore } from './security/postgres/postgres-audit-log.js'
