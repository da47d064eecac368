import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { sha256Hex } from './sha256.js'

/** How an audited action ended. */
export type AuditOutcome = 'succeeded' | 'failed' | 'denied'

/** What is appended: one security event or state-changing call. */
export interface AuditInput {
  /** Who: `key:<id>`, `cli`, `serve`, `threat-detection`, `ip:<address>` for an unauthenticated caller. */
  readonly actor: string
  /** What, as `<area>.<verb>`: `key.create`, `auth.fail`, `run.start`, `run.cancel`, `block.create`… */
  readonly action: string
  /** On what: `run:<id>`, `key:<id>`, `workflow:<name>`, `ip:<address>`… */
  readonly resource: string
  readonly outcome: AuditOutcome
  /** The request it belongs to (the `X-Request-Id` of the HTTP API), when there is one. */
  readonly requestId?: string | null
  /** JSON-safe facts (an error code, a role); never a secret. */
  readonly details?: Readonly<Record<string, unknown>> | null
}

/** One entry of the audit log, chained to the one before it. */
export interface AuditEntry {
  /** 1, 2, 3…: one sequence per store, whatever the number of server processes. */
  readonly seq: number
  /** Milliseconds since the epoch. */
  readonly at: number
  readonly actor: string
  readonly action: string
  readonly resource: string
  readonly outcome: AuditOutcome
  readonly requestId: string | null
  readonly details: Readonly<Record<string, unknown>> | null
  /** `hash` of the entry before (64 zeros for the first). */
  readonly prevHash: string
  /** SHA-256 over this entry's fields and `prevHash`, lowercase hex. */
  readonly hash: string
}

/** What to look for in the audit log; every field narrows. */
export interface AuditFilter {
  readonly actor?: string
  readonly action?: string
  readonly resource?: string
  /** Entries at or after this time (ms). */
  readonly since?: number
  /** Entries before this time (ms). */
  readonly until?: number
  /** Entries with `seq` greater than this (to page on). */
  readonly afterSeq?: number
  /** @default 100, at most 1000 */
  readonly limit?: number
}

/**
 * Where the audit log lives: memory, SQLite or PostgreSQL. `append` gives
 * `build` the last entry under a lock held until the new entry is written,
 * so entries form one chain even with many writers; the contract suite
 * `auditLogContract` checks an adapter.
 */
export interface AuditLogStore {
  /** Appends the entry `build` makes from the last one (`undefined`: the log is empty), atomically. */
  append(build: (last: AuditEntry | undefined) => AuditEntry): Promise<AuditEntry>
  /** Entries matching `filter`, oldest first. */
  query(filter: AuditFilter): Promise<AuditEntry[]>
}

/** `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64)

/** The hash of an entry: SHA-256 over its fields in a fixed order (JSON), `prevHash` included. */
export function auditHash(entry: Omit<AuditEntry, 'hash'>): string {
  return hashOf(entry, entry.details === null ? null : canonical(entry.details))
}

/** {@link auditHash} of `entry` whose details are already in canonical form (`details`). */
function hashOf(entry: Omit<AuditEntry, 'hash' | 'details'>, details: unknown): string {
  const fields = [
    entry.seq,
    entry.at,
    entry.actor,
    entry.action,
    entry.resource,
    entry.outcome,
    entry.requestId,
    details,
    entry.prevHash,
  ]
  return sha256Hex(JSON.stringify(fields))
}

/** JSON with object keys sorted, so the same details hash the same after a round trip through a database. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value).sort()) out[k] = canonical((value as Record<string, unknown>)[k])
    return out
  }
  return value
}

/** What {@link AuditLog.verify} found. */
export interface AuditVerification {
  /** True when every entry is unchanged and none is missing or inserted. */
  readonly ok: boolean
  /** Entries checked. */
  readonly checked: number
  /** The `hash` of the last entry: keep it elsewhere to detect a rewrite of the whole chain later. */
  readonly head: string
  /** The first broken place, when not `ok`. */
  readonly problem?: {
    /** The sequence number where the chain breaks. */
    readonly seq: number
    /** `changed`: its fields do not match its hash; `removed`: entries before it are missing; `inserted`: it does not follow the entry before it. */
    readonly kind: 'changed' | 'removed' | 'inserted'
    readonly message: string
  }
}

/**
 * The hash-chained audit log: every security event and state-changing call,
 * with actor, action, resource, outcome, time and request id. Each entry
 * carries the hash of the one before; {@link AuditLog.verify} walks the chain
 * and names the first entry that was changed, removed or inserted.
 *
 * @example
 * ```ts
 * const audit = new AuditLog(new MemoryAuditLogStore())
 * await audit.record({ actor: 'cli', action: 'key.create', resource: 'key:abc', outcome: 'succeeded' })
 * ;(await audit.verify()).ok // true
 * ```
 */
export class AuditLog {
  private readonly clock: Clock

  constructor(
    readonly store: AuditLogStore,
    options: { clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? systemClock
  }

  /** Appends one entry; returns it with its sequence number and hash. */
  record(input: AuditInput): Promise<AuditEntry> {
    for (const field of ['actor', 'action', 'resource'] as const) {
      if (typeof input[field] !== 'string' || input[field].length === 0)
        throw new FlotillaError('VALIDATION_FAILED', `An audit entry needs a non-empty ${field}.`, {
          details: { field },
        })
    }
    const at = this.clock.wallNow()
    const details = input.details ?? null
    return this.store.append((last) => {
      const entry = {
        seq: (last?.seq ?? 0) + 1,
        at,
        actor: input.actor,
        action: input.action,
        resource: input.resource,
        outcome: input.outcome,
        requestId: input.requestId ?? null,
        details,
        prevHash: last?.hash ?? GENESIS_HASH,
        hash: '',
      }
      entry.hash = hashOf(entry, details === null ? null : canonical(details))
      return entry
    })
  }

  /** Entries matching `filter`, oldest first. */
  query(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.store.query(filter)
  }

  /** Walks the whole chain, in pages of 1000. */
  async verify(): Promise<AuditVerification> {
    let expected = 1
    let prevHash = GENESIS_HASH
    let checked = 0
    for (;;) {
      const page = await this.store.query({ afterSeq: expected - 1, limit: 1000 })
      if (page.length === 0) return { ok: true, checked, head: prevHash }
      for (const e of page) {
        const broken = checkEntry(e, expected, prevHash)
        if (broken !== undefined) return { ok: false, checked, head: prevHash, problem: broken }
        checked++
        expected = e.seq + 1
        prevHash = e.hash
      }
    }
  }
}

function checkEntry(e: AuditEntry, expected: number, prevHash: string): AuditVerification['problem'] {
  if (e.seq > expected)
    return {
      seq: expected,
      kind: 'removed',
      message: `Entries ${expected}${e.seq - 1 > expected ? `–${e.seq - 1}` : ''} are missing (the next entry is ${e.seq}).`,
    }
  const { hash, ...body } = e
  if (auditHash(body) !== hash)
    return { seq: e.seq, kind: 'changed', message: `Entry ${e.seq} was changed: its fields no longer match its hash.` }
  if (e.prevHash !== prevHash)
    return {
      seq: e.seq,
      kind: 'inserted',
      message: `Entry ${e.seq} does not follow entry ${e.seq - 1}: it was inserted, or the entries around it were rewritten.`,
    }
  return undefined
}
