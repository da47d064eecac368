import { MemoryAuditLogStore } from '../../src/security/memory/memory-audit-log.js'
import { MemorySecurityStore } from '../../src/security/memory/memory-security-store.js'
import { auditLogContract, securityStoreContract } from '../../src/testing/security-contract.js'

securityStoreContract({ name: 'memory', create: async () => new MemorySecurityStore() })

// Two handles in one test are the same log, as two processes on one database would share it.
let shared: MemoryAuditLogStore | undefined
auditLogContract({
  name: 'memory',
  create: async () => (shared ??= new MemoryAuditLogStore()),
  destroy: async () => {
    shared = undefined
  },
})
