/**
 * Test helpers: `flotilla/testing`. The fake clock, the in-memory
 * adapters and the scripted language model. The contract suites of the ports are on
 * `flotilla/testing/contracts` (they need vitest).
 *
 * @example
 * ```ts
 * import { Orchestrator } from 'flotilla'
 * import { FakeClock, MemoryStore } from 'flotilla/testing'
 *
 * const orchestrator = new Orchestrator({ store: new MemoryStore(), clock: new FakeClock() })
 * ```
 *
 * @packageDocumentation
 */
export { FakeClock } from './core/fake-clock.js'
export { scriptedModel } from './models/scripted-model.js'
export type { ScriptedModel, ScriptedModelOptions, ScriptStep, ScriptEntry } from './models/scripted-model.js'
export { recordModel, replayModel } from './models/cassette.js'
export type { Cassette } from './models/cassette.js'
export { MemoryStore } from './store/memory/memory-store.js'
export { MemoryContextBackend } from './context/memory/memory-context-backend.js'
export { MemoryBus } from './messaging/memory-bus.js'
export { MemorySecurityStore } from './security/memory/memory-security-store.js'
export { MemoryAuditLogStore } from './security/memory/memory-audit-log.js'
export type { MemoryBusOptions } from './messaging/memory-bus.js'
