import type { Pool } from 'pg'
import { z } from 'zod'
import { type Clock, systemClock } from '../../core/clock.js'
import { FlotillaError } from '../../core/errors.js'
import { describeTarget, resolvePostgresOptions, sessionOptions } from '../../db/postgres/options.js'
import type { BusEvent, BusOptions } from '../bus.js'
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../validate.js'

/** Options of {@link openPostgresBus}. Give `connectionString` or `pool`. */
export interface PostgresBusOptions extends BusOptions {
  /**
   * `postgres://user:password@host:5432/database`; a `?schema=` parameter
   * names the schema (the `schema` option wins). The bus opens its own pool
   * and ends it on `close()`.
   */
  connectionString?: string
  /**
   * A `pg` pool to use instead of `connectionString`. The bus holds one of
   * its connections for LISTEN while open and never ends the pool.
   */
  pool?: Pool
  /**
   * The PostgreSQL schema holding the `flotilla_bus_*` tables; created when
   * missing. Letters, digits and underscores, not starting with a digit.
   * Every process that should reach the others must use the same one.
   * @default the URL's `?schema=`, else "flotilla"
   */
  schema?: string
  /**
   * Receives failures no caller waits for: the LISTEN connection dropping
   * (the bus reconnects by itself), a stored note that cannot be read, a
   * reply that cannot be sent. @default ignored
   */
  onError?: (error: unknown) => void
  /** Most connections of the pool the bus opens (with `connectionString`), LISTEN included. @default 10 */
  poolSize?: number
  /**
   * Whether a commit (a send, an ack, a lease) waits for its WAL record to
   * reach disk. `false` sets `synchronous_commit = off` for the sessions of
   * the pool the bus opens: two to three times as many messages per second, but
   * a crash of the PostgreSQL server (not of Flotilla) may lose the last few
   * hundred milliseconds of sends and acks. Ignored with `pool` (configure
   * the pool instead).
   * @default true
   */
  synchronousCommit?: boolean
  /** How long to wait for a connection before failing with `STORE_UNAVAILABLE`, in ms. @default 10000 */
  connectTimeoutMs?: number
}

/** The options with their defaults filled in. */
export interface ResolvedBusOptions {
  /** The URL without `?schema=`, when the bus opens its own pool. */
  url: string | undefined
  /** The `options` startup parameter of the pool the bus opens (the URL's, plus `synchronous_commit=off` when asked). */
  startupOptions: string | undefined
  pool: Pool | undefined
  schema: string
  clock: Clock
  maxDeliveries: number
  maxPayloadBytes: number
  defaultVisibilityTimeoutMs: number
  isKnownAgent: ((agent: string) => boolean) | undefined
  onHandlerError: (error: unknown, event: BusEvent) => void
  onError: (error: unknown) => void
  poolSize: number
  connectTimeoutMs: number
  /** `user@host:port/database` (never the password), or "the given pool". */
  where: string
}

const positiveInt = z.number().int().min(1)
const optionsSchema = z
  .object({
    connectionString: z.string().optional(),
    pool: z
      .custom<Pool>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { connect?: unknown }).connect === 'function',
        'a pg Pool',
      )
      .optional(),
    schema: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'use 1 to 63 letters, digits or underscores, not starting with a digit')
      .optional(),
    clock: z
      .custom<Clock>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { wallNow?: unknown }).wallNow === 'function',
        'a Clock',
      )
      .optional(),
    maxDeliveries: positiveInt.optional(),
    maxPayloadBytes: positiveInt.optional(),
    defaultVisibilityTimeoutMs: z.number().positive().finite().optional(),
    isKnownAgent: z.custom<(agent: string) => boolean>((v) => typeof v === 'function', 'a function').optional(),
    onHandlerError: z
      .custom<(error: unknown, event: BusEvent) => void>((v) => typeof v === 'function', 'a function')
      .optional(),
    onError: z.custom<(error: unknown) => void>((v) => typeof v === 'function', 'a function').optional(),
    poolSize: z.number().int().min(2).max(1000).optional(),
    connectTimeoutMs: z.number().int().min(0).optional(),
    synchronousCommit: z.boolean().optional(),
  })
  .strict()

/**
 * Validates the options and fills in defaults.
 *
 * @throws FlotillaError `VALIDATION_FAILED` for a bad option, `STORE_URL_INVALID` for a malformed URL.
 */
export function resolveBusOptions(options: PostgresBusOptions): ResolvedBusOptions {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path.join('.') || '(root)'
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Invalid PostgreSQL bus option "${path}": ${issue?.message ?? 'malformed'}.`,
      { details: { field: path } },
    )
  }
  const o = parsed.data
  if ((o.connectionString === undefined) === (o.pool === undefined)) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      'Give the PostgreSQL bus either connectionString (postgres://…) or pool, not both and not neither.',
      {
        details: { field: 'connectionString' },
      },
    )
  }
  let url: string | undefined
  let urlSchema: string | undefined
  let startupOptions: string | undefined
  let where = 'the given pool'
  if (o.connectionString !== undefined) {
    const r = resolvePostgresOptions(o.connectionString, {
      ...(o.schema === undefined ? {} : { schema: o.schema }),
      synchronousCommit: o.synchronousCommit ?? true,
    })
    url = r.url
    urlSchema = r.schema
    startupOptions = sessionOptions(r)
    where = describeTarget(r.target)
  }
  return {
    url,
    startupOptions,
    pool: o.pool,
    schema: o.schema ?? urlSchema ?? 'flotilla',
    clock: o.clock ?? systemClock,
    maxDeliveries: o.maxDeliveries ?? 5,
    maxPayloadBytes: o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    defaultVisibilityTimeoutMs: o.defaultVisibilityTimeoutMs ?? 30_000,
    isKnownAgent: o.isKnownAgent,
    onHandlerError: o.onHandlerError ?? (() => undefined),
    onError: o.onError ?? (() => undefined),
    poolSize: o.poolSize ?? 10,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    where,
  }
}
