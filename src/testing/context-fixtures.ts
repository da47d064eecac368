// What the context contract suites share: the start time, the principals and
// their grants, and the stores under test as each part sees them.
import type { ContextStore, ContextStoreOptions } from '../context/context-store.js'
import type { FakeClock } from '../core/fake-clock.js'
import { PermissionSet } from '../security/permissions.js'

/** The time a {@link FakeClock} starts at, so the time of every write at the start of a test. */
export const T0 = Date.UTC(2026, 0, 1)

/** Resolves `principal` to its grants: orchestrator is unrestricted, unknown principals hold nothing. */
const GRANTS: Record<string, PermissionSet> = {
  reader: new PermissionSet([
    { resource: 'artifact:**', actions: ['read'] },
    { resource: 'cache:**', actions: ['read'] },
  ]),
  writer: new PermissionSet([
    { resource: 'artifact:docs/**', actions: ['read', 'write'] },
    { resource: 'cache:docs:*', actions: ['read', 'write'] },
  ]),
  janitor: new PermissionSet([{ resource: 'artifact:**', actions: ['delete'] }]),
}

/**
 * The grants of the principals the context contract writes as: `orchestrator`
 * is unrestricted (undefined); `reader` reads every artifact and cache entry;
 * `writer` reads and writes `docs/**` artifacts and `docs:*` cache keys;
 * `janitor` deletes artifacts; any other principal holds nothing.
 */
export const permissionsOf = (who: string): PermissionSet | undefined =>
  who === 'orchestrator' ? undefined : (GRANTS[who] ?? new PermissionSet([]))

/** The store under test, made afresh before each test, as the parts of the context contract see it. */
export interface ContextUnderTest {
  /** A store on the backend under test, keeping 3 versions per artifact, with {@link permissionsOf}. */
  store: ContextStore
  /** The clock of every store on that backend; it reads {@link T0} when a test starts. */
  clock: FakeClock
  /** Another store on the same backend and clock, with other options. */
  withOptions(o: ContextStoreOptions): ContextStore
}
