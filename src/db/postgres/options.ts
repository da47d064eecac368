import { z } from 'zod'
import { FlotillaError } from '../../core/errors.js'

/** Options of {@link PostgresStore.connect}. */
export interface PostgresStoreOptions {
  /**
   * The PostgreSQL schema holding Flotilla's tables; created when missing.
   * Letters, digits and underscores, not starting with a digit. A URL can
   * name it too (`postgres://…/db?schema=flotilla_ci`); this option wins.
   * @default "flotilla"
   */
  schema?: string
  /** Most connections the store opens at once. @default 10 */
  poolSize?: number
  /**
   * Whether a commit waits for its WAL record to reach disk. `false` sets
   * `synchronous_commit = off` for the store's sessions: several times more
   * commits per second, but a crash of the PostgreSQL server (not of
   * Flotilla) may lose the last few hundred milliseconds of commits.
   * @default true
   */
  synchronousCommit?: boolean
  /** How long to wait for a connection before failing with `STORE_UNAVAILABLE`, in ms. @default 10000 */
  connectTimeoutMs?: number
}

/** Options after defaults, plus what the URL says about the target. */
export interface ResolvedPostgresOptions {
  url: string
  schema: string
  poolSize: number
  synchronousCommit: boolean
  connectTimeoutMs: number
  /** The connection target without password, for messages. */
  target: { host: string; port: number; database: string; user: string }
  /** The `options` startup parameter the URL gives, if any. */
  startupOptions: string | undefined
}

const optionsSchema = z
  .object({
    schema: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'use 1 to 63 letters, digits or underscores, not starting with a digit')
      .optional(),
    poolSize: z.number().int().min(1).max(1000).optional(),
    synchronousCommit: z.boolean().optional(),
    connectTimeoutMs: z.number().int().min(0).optional(),
  })
  .strict()

const URL_SHAPE = 'postgres://user:password@host:5432/database'

/** Validates the URL and the options; throws `STORE_URL_INVALID` or `VALIDATION_FAILED`. */
export function resolvePostgresOptions(url: string, options: PostgresStoreOptions = {}): ResolvedPostgresOptions {
  const fromUrl = parseUrl(url)
  const parsed = optionsSchema.safeParse({
    ...(fromUrl.schema === undefined ? {} : { schema: fromUrl.schema }),
    ...options,
  })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path.join('.') || '(root)'
    throw new FlotillaError('VALIDATION_FAILED', `Invalid PostgreSQL store option "${path}": ${issue?.message}.`, {
      details: { path },
    })
  }
  return {
    url: fromUrl.url,
    schema: options.schema ?? fromUrl.schema ?? 'flotilla',
    poolSize: options.poolSize ?? 10,
    synchronousCommit: options.synchronousCommit ?? true,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    target: fromUrl.target,
    startupOptions: fromUrl.startupOptions,
  }
}

/** What the URL says: the target, its `options`, its `schema` (removed from the URL handed to the driver). */
function parseUrl(
  url: string,
): Pick<ResolvedPostgresOptions, 'url' | 'target' | 'startupOptions'> & { schema: string | undefined } {
  const invalid = (why: string): FlotillaError =>
    new FlotillaError(
      'STORE_URL_INVALID',
      `The PostgreSQL store URL is malformed (${why}); write it as ${URL_SHAPE}.`,
      { details: { reason: why } },
    )
  if (typeof url !== 'string' || url.trim() === '') throw invalid('it is empty')
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw invalid('it is not a URL')
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw invalid(`the scheme is "${u.protocol.replace(/:$/, '')}", not postgres or postgresql`)
  const socketHost = u.searchParams.get('host')
  if (u.hostname === '' && !socketHost) throw invalid('it names no host')
  const port = u.port === '' ? 5432 : Number(u.port)
  let database: string, user: string
  try {
    database = decodeURIComponent(u.pathname.replace(/^\//, ''))
    user = decodeURIComponent(u.username)
  } catch {
    throw invalid('it holds a malformed %-escape')
  }
  if (database.includes('/')) throw invalid('the database name contains "/"')
  const schema = u.searchParams.get('schema') ?? undefined
  if (schema !== undefined) u.searchParams.delete('schema')
  return {
    url: schema === undefined ? url : u.toString(),
    schema,
    target: {
      host: u.hostname || socketHost || '',
      port,
      database: database || '(default database)',
      user: user || '(default user)',
    },
    startupOptions: u.searchParams.get('options') ?? undefined,
  }
}

/** The `options` startup parameter of the store's sessions: the URL's, plus `synchronous_commit=off` when asked. */
export function sessionOptions(o: ResolvedPostgresOptions): string | undefined {
  const parts = [o.startupOptions, o.synchronousCommit ? undefined : '-c synchronous_commit=off'].filter(
    (x) => x !== undefined && x !== '',
  )
  return parts.length === 0 ? undefined : parts.join(' ')
}

/** `user@host:port/database`, never the password. */
export function describeTarget(t: ResolvedPostgresOptions['target']): string {
  return `${t.user}@${t.host}:${t.port}/${t.database}`
}
