import { MemoryContextBackend } from '../../src/context/memory/memory-context-backend.js'
import { contextContract } from '../../src/testing/context-contract.js'

contextContract({ name: 'memory', create: async () => new MemoryContextBackend() })
