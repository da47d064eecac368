/**
 * The contract suite of every port: `flotilla/testing/contracts`. Run them
 * on an adapter of your own, the way Flotilla runs them on its memory,
 * SQLite and PostgreSQL adapters. Written for vitest (an optional peer
 * dependency: install it to use them).
 *
 * @example
 * ```ts
 * // my-store.test.ts, run with vitest
 * import { storeContract } from 'flotilla/testing/contracts'
 * import { MyStore } from './my-store.js'
 *
 * storeContract({ name: 'MyStore', create: async () => new MyStore(), destroy: (s) => s.close() })
 * ```
 *
 * @packageDocumentation
 */
export { storeContract } from './testing/store-contract.js'
export type { StoreContractInit } from './testing/store-contract.js'
export { queueContract } from './testing/queue-contract.js'
export type { QueueContractInit } from './testing/queue-contract.js'
export { busContract } from './testing/bus-contract.js'
export type { BusContractInit, BusContractOptions } from './testing/bus-contract.js'
export { contextContract } from './testing/context-contract.js'
export type { ContextContractInit } from './testing/context-contract.js'
export { auditLogContract, securityStoreContract } from './testing/security-contract.js'
export type { AuditLogContractInit, SecurityStoreContractInit } from './testing/security-contract.js'
export { storeTailContract } from './testing/store-tail-contract.js'
export type { StoreTailContractInit } from './testing/store-tail-contract.js'
