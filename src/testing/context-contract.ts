import { afterEach, beforeEach, describe } from 'vitest'
import type { ContextBackend } from '../context/backend.js'
import { ContextStore, type ContextStoreOptions } from '../context/context-store.js'
import { FakeClock } from '../core/fake-clock.js'
import { contextArtifactsContract } from './context-artifacts-contract.js'
import { contextExpiryContract } from './context-expiry-contract.js'
import { type ContextUnderTest, permissionsOf } from './context-fixtures.js'
import { contextGuardsContract } from './context-guards-contract.js'

/** How a ContextBackend adapter is made and torn down for the contract suite. */
export interface ContextContractInit {
  name: string
  create(): Promise<ContextBackend>
  destroy?(backend: ContextBackend): Promise<void>
}

/**
 * The contract every {@link ContextBackend} adapter passes under the one
 * {@link ContextStore} (memory, SQLite, PostgreSQL): versions and lineage,
 * optimistic concurrency, content stored once, TTL on a fake clock,
 * permissions, the cache, and error codes with the store left unchanged.
 */
export function contextContract(init: ContextContractInit): void {
  describe(`ContextStore contract: ${init.name}`, () => {
    let backend: ContextBackend
    let under: ContextUnderTest

    beforeEach(async () => {
      backend = await init.create()
      const clock = new FakeClock()
      /** Another store on the same backend, with other options. */
      const withOptions = (o: ContextStoreOptions): ContextStore =>
        new ContextStore(backend, { clock, permissionsOf, ...o })
      under = { store: withOptions({ keepVersions: 3 }), clock, withOptions }
    })

    afterEach(async () => {
      if (init.destroy) await init.destroy(backend)
      else await backend.close()
    })

    contextArtifactsContract(() => under)
    contextExpiryContract(() => under)
    contextGuardsContract(() => under)
  })
}
