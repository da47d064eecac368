/**
 * Test helpers: `flotilla/testing`. The fake clock, and the in-memory store
 * that every port's contract suite runs first.
 *
 * @packageDocumentation
 */
export { FakeClock } from './core/fake-clock.js'
export { MemoryStore } from './store/memory/memory-store.js'
export { MemoryContextBackend } from './context/memory/memory-context-backend.js'
