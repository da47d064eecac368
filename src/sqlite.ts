/**
 * The SQLite adapters: `flotilla/sqlite`. Most code names a SQLite file by
 * URL instead (`openBackend('sqlite:runs.db')`, `new Orchestrator({ store: 'runs.db' })`);
 * import these to configure them.
 *
 * @example
 * ```ts
 * import { Orchestrator } from 'flotilla'
 * import { SqliteStore } from 'flotilla/sqlite'
 *
 * const orchestrator = new Orchestrator({ store: SqliteStore.open({ path: 'runs.db' }) })
 * ```
 *
 * @packageDocumentation
 */
export { SqliteStore } from './store/sqlite/sqlite-store.js'
export type { SqliteStoreOptions } from './store/sqlite/sqlite-store.js'
export { SqliteContextBackend } from './context/sqlite/sqlite-context-backend.js'
export type { SqliteContextBackendOptions } from './context/sqlite/sqlite-context-backend.js'
export { SqliteSecurityStore } from './security/sqlite/sqlite-security-store.js'
export { SqliteAuditLogStore } from './security/sqlite/sqlite-audit-log.js'
export type { SqliteSecurityOptions } from './security/sqlite/options.js'
