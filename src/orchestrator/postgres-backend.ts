import type { Clock } from '../core/clock.js'
import { PostgresContextBackend } from '../context/postgres/postgres-context-backend.js'
import { PostgresBus } from '../messaging/postgres/postgres-bus.js'
import { PostgresAuditLogStore } from '../security/postgres/postgres-audit-log.js'
import { PostgresSecurityStore } from '../security/postgres/postgres-security-store.js'
import { postgresLimiters } from '../security/guard.js'
import { describeTarget, resolvePostgresOptions, type PostgresStoreOptions } from '../db/postgres/options.js'
import { openPool } from '../db/postgres/pool.js'
import { PostgresStore } from '../store/postgres/postgres-store.js'
import type { Backend } from './backend.js'

/**
 * The PostgreSQL backend: one pool serves the store, its queue, the context
 * tables, the security tables (keys, blocks, audit log) and the bus (which
 * keeps one of its connections to LISTEN; the queue's wake-ups LISTEN on a
 * connection of their own). Loaded by
 * `openBackend` only for a postgres URL, so `pg` stays optional.
 */
export async function openPostgresBackend(url: string, options: PostgresStoreOptions, clock: Clock): Promise<Backend> {
  const o = resolvePostgresOptions(url, options)
  const where = describeTarget(o.target)
  const pool = await openPool(o, where, {
    what: 'backend',
    applicationName: 'flotilla',
    prepare: async () => undefined,
  })
  const opened: { close(): Promise<void> }[] = []
  try {
    const store = await PostgresStore.onPool(pool, o.schema, where)
    opened.push(store)
    const context = await PostgresContextBackend.onPool(pool, o.schema, where)
    opened.push(context)
    const security = await PostgresSecurityStore.onPool(pool, o.schema, where)
    opened.push(security)
    const audit = await PostgresAuditLogStore.onPool(pool, o.schema, where)
    opened.push(audit)
    const bus = await PostgresBus.open({ pool, schema: o.schema, clock })
    const queue = store.queue(clock)
    let closing: Promise<void> | undefined
    return {
      kind: 'postgres',
      target: where,
      store,
      queue,
      bus,
      context,
      security,
      audit,
      rateLimiters: () => postgresLimiters(pool, o.schema),
      close: () =>
        (closing ??= (async () => {
          await bus.close()
          await audit.close()
          await security.close()
          await context.close()
          await store.close()
          await pool.end().catch(() => undefined)
        })()),
    }
  } catch (e) {
    for (const part of opened.reverse()) await part.close().catch(() => undefined)
    await pool.end().catch(() => undefined)
    throw e
  }
}
