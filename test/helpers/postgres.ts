import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { describe, it } from 'vitest'

/** The PostgreSQL the tests use (CI provides it); override with FLOTILLA_TEST_POSTGRES_URL. */
export const POSTGRES_URL = process.env.FLOTILLA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

let probe: Promise<boolean> | undefined

/** Whether {@link POSTGRES_URL} accepts a connection within 2 s (checked once per file). */
export function postgresAvailable(): Promise<boolean> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 })
    client.on('error', () => undefined)
    try {
      await client.connect()
      await client.query('SELECT 1')
      return true
    } catch {
      return false
    } finally {
      await client.end().catch(() => undefined)
    }
  })()
  return probe
}

/**
 * `describe` for tests that need PostgreSQL. When it cannot be reached, the
 * block fails under CI (`CI` set: CI must run them) and is skipped with a
 * warning naming the URL otherwise.
 */
export async function describePostgres(name: string, body: () => void): Promise<void> {
  if (await postgresAvailable()) {
    describe(name, body)
    return
  }
  const why = `PostgreSQL is not reachable at ${POSTGRES_URL}`
  if (process.env.CI) {
    describe(name, () => {
      it('needs PostgreSQL', () => {
        throw new Error(`${why}; CI must provide it (user postgres, trust auth, database test).`)
      })
    })
    return
  }
  console.warn(
    `[flotilla tests] skipping "${name}": ${why}. Start one (or set FLOTILLA_TEST_POSTGRES_URL) to run them.`,
  )
  describe.skip(`${name} (skipped: ${why})`, body)
}

/** A schema name no other test uses, so test files and tests run in parallel. */
export function freshSchema(): string {
  return `flotilla_test_${randomBytes(6).toString('hex')}`
}

/**
 * Runs `fn` with the URL of a new, unique schema (`?schema=…`, read by
 * `PostgresStore.connect` and so by `openStoreAsync`), then drops the schema.
 */
export async function withFreshSchema<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const schema = freshSchema()
  const url = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}schema=${schema}`
  try {
    return await fn(url)
  } finally {
    await dropSchema(schema)
  }
}

/** Runs statements on a short-lived connection of its own (setup, inspection, cleanup). */
export async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 })
  client.on('error', () => undefined)
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await withClient((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
}
