// A separate process appending to the audit log of an SQLite file (from the built dist/):
// node audit-writer.mjs <file> <actor> <count> <start-at-ms>
import { AuditLog } from '../../dist/security/audit.js'
import { SqliteAuditLogStore } from '../../dist/security/sqlite/sqlite-audit-log.js'

const [file, actor, count, startAt] = process.argv.slice(2)
const store = SqliteAuditLogStore.open({ path: file, busyTimeoutMs: 30_000 })
const audit = new AuditLog(store)
// Every writer starts at the same moment, so their appends interleave.
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())))
for (let i = 0; i < Number(count); i++) {
  await audit.record({ actor, action: 'test.append', resource: `n:${i}`, outcome: 'succeeded', details: { i } })
  // A pause between appends, as between requests, so the writers' appends interleave.
  await new Promise((resolve) => setTimeout(resolve, 1))
}
await store.close()
