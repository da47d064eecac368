import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { storeContract } from '../../src/testing/store-contract.js'

storeContract({ name: 'memory', create: async () => new MemoryStore() })
