import type { RateLimiterAbstract } from 'rate-limiter-flexible'
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { AuditLog } from './audit.js'
import type { BlockRecord, SecurityStore } from './security-store.js'

/** Makes a counter of `points` per `duration` seconds, per key (memory, or a database several servers share). */
export type LimiterFactory = (options: {
  keyPrefix: string
  points: number
  duration: number
}) => RateLimiterAbstract | Promise<RateLimiterAbstract>

/** Limits of a {@link RequestGuard}; every field has a default. */
export interface GuardOptions {
  /** Requests allowed per key and per address in `perSeconds`. @default 600 */
  readonly requests?: number
  /** @default 60 */
  readonly perSeconds?: number
  /** Authentication failures or denials from one key or address within `failureWindowSeconds` that block it. @default 20 */
  readonly failures?: number
  /** @default 60 */
  readonly failureWindowSeconds?: number
  /** How long such a block lasts. @default 900 (15 minutes) */
  readonly blockSeconds?: number
  /** The counters; several server processes share limits only through a shared store. @default memory */
  readonly limiters?: LimiterFactory
  /** @default systemClock */
  readonly clock?: Clock
  /** How long a process trusts its copy of the blocks before it reads them again. @default 1000 ms */
  readonly blockCacheMs?: number
}

/** Who is asking, as far as the guard is concerned: the client's address, a proven key, or both. */
export interface GuardTarget {
  /** The client's address. */
  readonly ip?: string
  /** The id of a key the request proved it holds. */
  readonly keyId?: string
}

/** Counters in this process's memory (rate-limiter-flexible's `RateLimiterMemory`). */
export async function memoryLimiters(): Promise<LimiterFactory> {
  const { RateLimiterMemory } = await import('rate-limiter-flexible')
  return (o) => new RateLimiterMemory(o)
}

/**
 * Counters in PostgreSQL, shared by every server process on the database
 * (rate-limiter-flexible's `RateLimiterPostgres`, one table per counter in `schema`).
 */
export async function postgresLimiters(pool: unknown, schema: string): Promise<LimiterFactory> {
  const { RateLimiterPostgres } = await import('rate-limiter-flexible')
  // The limiter creates its table (flotilla_rl_<prefix>) if absent; wait for that before the first count.
  return (o) =>
    new Promise<RateLimiterAbstract>((resolve, reject) => {
      const limiter: RateLimiterAbstract = new RateLimiterPostgres(
        {
          ...o,
          storeClient: pool,
          storeType: 'pool',
          schemaName: schema,
          tableName: `flotilla_rl_${o.keyPrefix}`,
          clearExpiredByTimeout: false,
        },
        (e?: Error) => (e === undefined || e === null ? resolve(limiter) : reject(e)),
      )
    })
}

/**
 * Rate limits and threat detection for the HTTP API: each key and each
 * address gets `requests` per `perSeconds` (then `RATE_LIMITED` with the
 * seconds to wait); repeated authentication failures or denials from one key
 * or address block it for `blockSeconds` (`ACCESS_BLOCKED`), audited. An
 * ADMIN lists and lifts blocks.
 */
export class RequestGuard {
  private readonly clock: Clock
  private readonly o: Required<Omit<GuardOptions, 'limiters' | 'clock'>>
  private blocks = new Map<string, BlockRecord>()
  private blocksReadAt = -Infinity

  private constructor(
    private readonly store: SecurityStore,
    private readonly audit: AuditLog,
    private readonly requests: RateLimiterAbstract,
    private readonly failures: RateLimiterAbstract,
    options: GuardOptions,
  ) {
    this.clock = options.clock ?? systemClock
    this.o = {
      requests: positive(options.requests ?? 600, 'requests'),
      perSeconds: positive(options.perSeconds ?? 60, 'perSeconds'),
      failures: positive(options.failures ?? 20, 'failures'),
      failureWindowSeconds: positive(options.failureWindowSeconds ?? 60, 'failureWindowSeconds'),
      blockSeconds: positive(options.blockSeconds ?? 900, 'blockSeconds'),
      blockCacheMs: options.blockCacheMs ?? 1000,
    }
  }

  /** A guard on `store` (blocks) and `audit`; counters from `options.limiters` (default: memory). */
  static async create(store: SecurityStore, audit: AuditLog, options: GuardOptions = {}): Promise<RequestGuard> {
    const make = options.limiters ?? (await memoryLimiters())
    const requests = positive(options.requests ?? 600, 'requests')
    const failures = positive(options.failures ?? 20, 'failures')
    return new RequestGuard(
      store,
      audit,
      await make({
        keyPrefix: 'requests',
        points: requests,
        duration: positive(options.perSeconds ?? 60, 'perSeconds'),
      }),
      await make({
        keyPrefix: 'failures',
        points: failures,
        duration: positive(options.failureWindowSeconds ?? 60, 'failureWindowSeconds'),
      }),
      options,
    )
  }

  /** The limits in force (for docs and the `RateLimit-*` headers). */
  get limits(): { requests: number; perSeconds: number } {
    return { requests: this.o.requests, perSeconds: this.o.perSeconds }
  }

  /**
   * Lets a request through, or throws `ACCESS_BLOCKED` (the address or key is
   * blocked) or `RATE_LIMITED` (`details.retryAfterSeconds`).
   */
  async admit(target: GuardTarget): Promise<void> {
    const ip = target.ip === undefined ? undefined : `ip:${target.ip}`
    const key = target.keyId === undefined ? undefined : `key:${target.keyId}`
    if (ip !== undefined) await this.refuseBlocked(ip)
    if (key !== undefined) await this.refuseBlocked(key)
    if (ip !== undefined) await this.count(ip)
    if (key !== undefined) await this.count(key)
  }

  /** {@link RequestGuard.admit} for a key the request proved it holds. */
  async admitKey(keyId: string): Promise<void> {
    const key = `key:${keyId}`
    await this.refuseBlocked(key)
    await this.count(key)
  }

  private async refuseBlocked(t: string): Promise<void> {
    const block = this.blocksFresh() ? this.blockIn(t) : await this.blockOf(t)
    if (block !== undefined) throw blocked(block)
  }

  /** Spends one request of `t`'s limit, or throws `RATE_LIMITED`. */
  private async count(t: string): Promise<void> {
    try {
      await this.requests.consume(t)
    } catch (e) {
      const wait = msBeforeNext(e)
      if (wait === undefined) throw e
      const retryAfterSeconds = Math.max(1, Math.ceil(wait / 1000))
      throw new FlotillaError(
        'RATE_LIMITED',
        `Too many requests from ${t}: at most ${this.o.requests} in ${this.o.perSeconds} s. Retry after ${retryAfterSeconds} s.`,
        { details: { target: t, retryAfterSeconds, limit: this.o.requests, windowSeconds: this.o.perSeconds } },
      )
    }
  }

  /**
   * Counts an authentication failure (against the address) or a denial
   * (against the key); at the threshold the one that reached it is blocked
   * (and audited).
   */
  async failed(target: GuardTarget, kind: 'auth' | 'denied', requestId?: string): Promise<void> {
    for (const t of targets(target)) {
      try {
        await this.failures.consume(t)
      } catch (e) {
        if (msBeforeNext(e) === undefined) throw e
        if ((await this.blockOf(t)) !== undefined) continue
        const what = kind === 'auth' ? 'authentication failures' : 'denials'
        await this.block(
          t,
          this.o.blockSeconds * 1000,
          `more than ${this.o.failures} ${what} in ${this.o.failureWindowSeconds} s`,
          'threat-detection',
          requestId,
        )
      }
    }
  }

  /** Blocks `target` (`ip:<address>` or `key:<id>`) for `forMs`; audited. */
  async block(target: string, forMs: number, reason: string, by: string, requestId?: string): Promise<BlockRecord> {
    if (!/^(ip|key):.+/.test(target))
      throw new FlotillaError('VALIDATION_FAILED', `A block target is "ip:<address>" or "key:<id>"; got "${target}".`, {
        details: { field: 'target' },
      })
    const now = this.clock.wallNow()
    const record: BlockRecord = { target, reason, createdAt: now, until: now + positive(forMs, 'forMs'), createdBy: by }
    await this.store.putBlock(record)
    this.blocks.set(target, record)
    await this.audit.record({
      actor: by,
      action: 'block.create',
      resource: `block:${target}`,
      outcome: 'succeeded',
      requestId: requestId ?? null,
      details: { reason, until: record.until },
    })
    return record
  }

  /** Lifts the block of `target`; `false` when none was in force. Audited. */
  async lift(target: string, by: string, requestId?: string): Promise<boolean> {
    const lifted = await this.store.liftBlock(target, this.clock.wallNow())
    this.blocks.delete(target)
    await Promise.all([this.requests.delete(target), this.failures.delete(target)])
    await this.audit.record({
      actor: by,
      action: 'block.lift',
      resource: `block:${target}`,
      outcome: lifted ? 'succeeded' : 'failed',
      requestId: requestId ?? null,
    })
    return lifted
  }

  /** Blocks in force, soonest to end first. */
  list(): Promise<BlockRecord[]> {
    return this.store.listBlocks(this.clock.wallNow())
  }

  private async blockOf(target: string): Promise<BlockRecord | undefined> {
    if (!this.blocksFresh()) {
      const now = this.clock.wallNow()
      this.blocks = new Map((await this.store.listBlocks(now)).map((b) => [b.target, b]))
      this.blocksReadAt = now
    }
    return this.blockIn(target)
  }

  /** True while this process's copy of the blocks is recent enough to trust. */
  private blocksFresh(): boolean {
    return this.clock.wallNow() - this.blocksReadAt < this.o.blockCacheMs
  }

  /** The block of `target` in force now, from this process's copy. */
  private blockIn(target: string): BlockRecord | undefined {
    const b = this.blocks.get(target)
    return b !== undefined && b.until > this.clock.wallNow() ? b : undefined
  }
}

function targets(t: GuardTarget): string[] {
  const out: string[] = []
  if (t.ip !== undefined) out.push(`ip:${t.ip}`)
  if (t.keyId !== undefined) out.push(`key:${t.keyId}`)
  return out
}

/** rate-limiter-flexible rejects with a result (over the limit) or an Error (its store failed). */
function msBeforeNext(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null && !(e instanceof Error) && 'msBeforeNext' in e
    ? Number((e as { msBeforeNext: number }).msBeforeNext)
    : undefined
}

function blocked(b: BlockRecord): FlotillaError {
  return new FlotillaError(
    'ACCESS_BLOCKED',
    `${b.target} is blocked until ${new Date(b.until).toISOString()}: ${b.reason}. An ADMIN can lift it.`,
    { details: { target: b.target, until: b.until, reason: b.reason } },
  )
}

function positive(n: number, field: string): number {
  if (!(typeof n === 'number' && Number.isFinite(n) && n > 0))
    throw new FlotillaError('VALIDATION_FAILED', `${field} must be a number > 0; got ${String(n)}.`, {
      details: { field },
    })
  return n
}
