import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { storeContract } from '../contract/store.contract.js'

storeContract({ name: 'memory', create: async () => new MemoryStore() })
