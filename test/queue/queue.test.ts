import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { queueContract } from '../../src/testing/queue-contract.js'

queueContract({ name: 'memory', create: async () => new MemoryStore() })

const folders = new Map<Store, string>()
queueContract({
  name: 'sqlite',
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-queue-'))
    const store = SqliteStore.open({ path: join(dir, 'flotilla.db') })
    folders.set(store, dir)
    return store
  },
  destroy: async (store) => {
    await store.close()
    rmSync(folders.get(store)!, { recursive: true, force: true })
  },
  openPeer: async (store) => SqliteStore.open({ path: (store as SqliteStore).path }),
})
