import type { AuditEntry, AuditFilter, AuditLogStore } from '../audit.js'

/**
 * The audit log in memory (tests, `--store memory`); appends are serialized
 * by the event loop. It keeps a frozen copy of the entry `build` returns and
 * hands out that copy: nothing can change a stored entry, and queries copy
 * nothing.
 */
export class MemoryAuditLogStore implements AuditLogStore {
  private readonly entries: AuditEntry[] = []

  async append(build: (last: AuditEntry | undefined) => AuditEntry): Promise<AuditEntry> {
    const entry = frozenCopy(build(this.entries.at(-1)))
    this.entries.push(entry)
    return entry
  }

  async query(filter: AuditFilter): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000)
    const out: AuditEntry[] = []
    for (const e of this.entries) {
      if (!matchesAudit(e, filter)) continue
      out.push(e)
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

/** A frozen deep copy of `value`: arrays and plain objects copied by hand (keys in their order), anything else cloned. */
function frozenCopy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy)) as T
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return Object.freeze(structuredClone(value))
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(value)) out[k] = frozenCopy((value as Record<string, unknown>)[k])
  return Object.freeze(out) as T
}
