import type { AuditEntry, AuditFilter, AuditLogStore } from '../audit.js'

/** The audit log in memory (tests, `--store memory`); appends are serialized by the event loop. */
export class MemoryAuditLogStore implements AuditLogStore {
  private readonly entries: AuditEntry[] = []

  async append(build: (last: AuditEntry | undefined) => AuditEntry): Promise<AuditEntry> {
    const entry = build(this.entries.at(-1))
    this.entries.push(structuredClone(entry))
    return entry
  }

  async query(filter: AuditFilter): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000)
    const out: AuditEntry[] = []
    for (const e of this.entries) {
      if (!matchesAudit(e, filter)) continue
      out.push(structuredClone(e))
      if (out.length === limit) break
    }
    return out
  }
}

/** True when `e` passes every field of `filter` (the memory adapter's query, and a test oracle for the SQL ones). */
export function matchesAudit(e: AuditEntry, filter: AuditFilter): boolean {
  return (
    (filter.afterSeq === undefined || e.seq > filter.afterSeq) &&
    (filter.actor === undefined || e.actor === filter.actor) &&
    (filter.action === undefined || e.action === filter.action) &&
    (filter.resource === undefined || e.resource === filter.resource) &&
    (filter.since === undefined || e.at >= filter.since) &&
    (filter.until === undefined || e.at < filter.until)
  )
}
