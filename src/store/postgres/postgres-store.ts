import type { Pool } from 'pg'
import { CommitHooks } from '../commit-hooks.js'
import { settingText, settingValue } from '../settings.js'
import { systemClock, type Clock } from '../../core/clock.js'
import { FlotillaError } from '../../core/errors.js'
import type { RunId, TaskId } from '../../core/ids.js'
import type { AgentState } from '../../core/states.js'
import { quoteIdent } from '../../db/postgres/ident.js'
import { migrate, type SqlSession } from '../../db/postgres/migrate.js'
import { describeTarget, resolvePostgresOptions, type PostgresStoreOptions } from '../../db/postgres/options.js'
import { openPool, preparePool, rawJsonTypes, type RawJsonTypes } from '../../db/postgres/pool.js'
import type {
  AgentFilter,
  AgentRecord,
  AgentTransition,
  RunFilter,
  RunRecord,
  StoreBatch,
  StoredEvent,
  TailOptions,
  TailPage,
  TaskRecord,
} from '../records.js'
import type { TaskQueue } from '../queue.js'
import type { Store } from '../store.js'
import { PostgresAgents } from './agents.js'
import {
  decodeEvent,
  decodeRun,
  decodeTask,
  encodeBatch,
  RUN_COLUMNS,
  TASK_COLUMNS,
  type RunRow,
  type TaskRow,
} from './codec.js'
import { queryError } from './errors.js'
import { PostgresQueue } from './postgres-queue.js'
import { STORE_DOMAIN } from './schema.js'
import { tailPostgres, tailStatements } from './tail.js'

/** The prepared statements of one store; names are per connection, texts fixed per schema. */
interface Statements {
  commit: string
  getRun: string
  listRuns: string
  getTasks: string
  getTask: string
  listEvents: string
  tail: { all: string; run: string }
  prune: string
}

function statements(s: string): Statements {
  return {
    commit: `SELECT ${s}.flotilla_commit($1::json, $2::text[], $3::text[], $4::text[])`,
    getRun: `SELECT ${RUN_COLUMNS} FROM ${s}.runs r LEFT JOIN ${s}.definitions d ON d.id = r.definition_id WHERE r.id = $1`,
    listRuns: `SELECT ${RUN_COLUMNS} FROM ${s}.runs r LEFT JOIN ${s}.definitions d ON d.id = r.definition_id
      WHERE ($1::text[] IS NULL OR r.state = ANY ($1)) AND ($2::text IS NULL OR r.workflow = $2)
        AND ($4::text IS NULL OR r.parent_run_id = $4)
      ORDER BY r.created_at DESC, r.id DESC LIMIT $3`,
    // One row with NULL task columns for a run without tasks; no row for an unknown run.
    getTasks: `SELECT ${TASK_COLUMNS} FROM ${s}.runs r LEFT JOIN ${s}.tasks t ON t.run_id = r.id WHERE r.id = $1 ORDER BY t.idx`,
    getTask: `SELECT ${TASK_COLUMNS} FROM ${s}.tasks t WHERE t.run_id = $1 AND t.task_id = $2`,
    listEvents: `SELECT e.seq, e.body FROM ${s}.runs r
      LEFT JOIN LATERAL (SELECT seq, body FROM ${s}.events WHERE run_id = r.id AND seq > $2 ORDER BY seq LIMIT $3) e ON true
      WHERE r.id = $1 ORDER BY e.seq`,
    tail: tailStatements(s),
    prune: `SELECT ${s}.flotilla_prune($1) AS n`,
  }
}

/**
 * The PostgreSQL {@link Store}, for one server or many workers sharing a
 * database. A batch is one call of the `flotilla_commit` function the
 * migrations install: one round trip and one transaction, whatever its size,
 * with the attempt fencing checked inside the database, so several processes
 * can write to the same runs safely. Import it from `flotilla/postgres`; it
 * needs the optional peer dependency `pg`.
 *
 * @example
 * ```ts
 * import { PostgresStore } from 'flotilla/postgres'
 * const store = await PostgresStore.connect('postgres://flotilla@db:5432/flotilla', { schema: 'flotilla' })
 * const orchestrator = new Orchestrator({ store })
 * ```
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres'
  readonly durable = true
  readonly commits = new CommitHooks()
  /** The PostgreSQL schema holding the tables. */
  readonly schema: string
  private readonly sql: Statements
  private readonly where: string
  private readonly agents: PostgresAgents
  private taskQueue: PostgresQueue | undefined
  private closed = false
  private closing: Promise<void> | undefined

  private constructor(
    private readonly pool: Pool,
    schema: string,
    where: string,
    private readonly types: RawJsonTypes,
    private readonly ownsPool: boolean,
  ) {
    this.schema = schema
    this.where = where
    this.sql = statements(quoteIdent(schema))
    this.agents = new PostgresAgents(quoteIdent(schema), (name, text, values) => this.query(name, text, values))
  }

  /**
   * Connects, then creates or upgrades the schema (migrations run once, under
   * an advisory lock). Fails with `STORE_URL_INVALID` for a malformed URL,
   * `STORE_UNAVAILABLE` when the server cannot be reached or refuses the
   * login, `STORE_NOT_FLOTILLA` for a schema holding other tables, and
   * `STORE_SCHEMA_TOO_NEW` for a schema written by a newer Flotilla.
   *
   * @example
   * ```ts
   * const store = await PostgresStore.connect(process.env.DATABASE_URL!, { poolSize: 20 })
   * ```
   */
  static async connect(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const o = resolvePostgresOptions(url, options)
    const where = describeTarget(o.target)
    const types = await rawJsonTypes()
    const pool = await openPool(o, where, {
      what: 'store',
      applicationName: 'flotilla',
      prepare: async (client) => {
        await migrate(client as SqlSession, o.schema, where, [STORE_DOMAIN])
      },
    })
    return new PostgresStore(pool, o.schema, where, types, true)
  }

  /**
   * The store on a pool shared with other parts (`openBackend`): migrates
   * the schema on one of its connections; `close()` leaves the pool open.
   * Fails like {@link PostgresStore.connect}.
   */
  static async onPool(pool: Pool, schema: string, where: string): Promise<PostgresStore> {
    const types = await rawJsonTypes()
    await preparePool(pool, where, async (client) => {
      await migrate(client as SqlSession, schema, where, [STORE_DOMAIN])
    })
    return new PostgresStore(pool, schema, where, types, false)
  }

  async commit(batch: StoreBatch): Promise<void> {
    this.assertOpen()
    if (batch.ops.length === 0 && batch.events.length === 0) return
    const p = encodeBatch(batch)
    if (!this.commits.active) {
      await this.query('flotilla_commit', this.sql.commit, [p.ops, p.vals, p.evRuns, p.evBodies])
      return
    }
    const end = this.commits.startBatch('postgresql', batch)
    try {
      await this.query('flotilla_commit', this.sql.commit, [p.ops, p.vals, p.evRuns, p.evBodies])
    } catch (e) {
      end(e)
      throw e
    }
    end()
  }

  /**
   * The task queue in this store's schema (the same object on every call;
   * `clock` is read on the first). Its waits listen on a connection of their
   * own, opened on the first wait and closed by {@link PostgresStore.close}.
   */
  queue(clock: Clock = systemClock): TaskQueue {
    this.taskQueue ??= new PostgresQueue(
      {
        schema: quoteIdent(this.schema),
        schemaName: this.schema,
        query: (name, text, values) => this.query(name, text, values),
        listenConfig: { ...this.pool.options, application_name: 'flotilla-queue', keepAlive: true },
        commits: this.commits,
      },
      clock,
    )
    return this.taskQueue
  }

  async getRun(runId: RunId): Promise<RunRecord | undefined> {
    const rows = await this.query<RunRow>('flotilla_get_run', this.sql.getRun, [runId])
    return rows.length === 0 ? undefined : decodeRun(rows[0])
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const states = filter.state === undefined ? null : Array.isArray(filter.state) ? [...filter.state] : [filter.state]
    const rows = await this.query<RunRow>('flotilla_list_runs', this.sql.listRuns, [
      states,
      filter.workflow ?? null,
      limitOf(filter.limit ?? 100),
      filter.parentRunId ?? null,
    ])
    return rows.map(decodeRun)
  }

  async getTasks(runId: RunId): Promise<TaskRecord[]> {
    const rows = await this.query<TaskRow>('flotilla_get_tasks', this.sql.getTasks, [runId])
    if (rows.length === 0) throw notFound(runId)
    return rows[0].task_id === null ? [] : rows.map(decodeTask)
  }

  async getTask(runId: RunId, taskId: TaskId): Promise<TaskRecord | undefined> {
    const rows = await this.query<TaskRow>('flotilla_get_task', this.sql.getTask, [runId, taskId])
    return rows.length === 0 ? undefined : decodeTask(rows[0])
  }

  async listEvents(runId: RunId, options: { afterSeq?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    const after = Math.min(MAX_INT, Math.max(0, Math.floor(options.afterSeq ?? 0) || 0))
    const rows = await this.query<{ seq: number | null; body: string | null }>(
      'flotilla_list_events',
      this.sql.listEvents,
      [runId, after, limitOf(options.limit)],
    )
    if (rows.length === 0) throw notFound(runId)
    const out: StoredEvent[] = []
    for (const r of rows) if (r.seq !== null && r.body !== null) out.push(decodeEvent(r.seq, r.body))
    return out
  }

  async tailEvents(options: TailOptions = {}): Promise<TailPage> {
    this.assertOpen()
    return tailPostgres((name, text, values) => this.query(name, text, values), this.sql.tail, options)
  }

  async pruneRuns(finishedBefore: number): Promise<number> {
    this.assertOpen()
    if (Number.isNaN(finishedBefore)) return 0 // nothing finished before NaN (PostgreSQL would sort NaN above every number)
    const rows = await this.query<{ n: number }>('flotilla_prune', this.sql.prune, [finishedBefore])
    return rows[0].n
  }

  async saveAgent(
    record: AgentRecord,
    transition: { from: AgentState | null; to: AgentState; reason: string | null; at: number },
  ): Promise<void> {
    this.assertOpen()
    await this.agents.save(record, transition)
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    return this.agents.find(id)
  }

  async getSetting(key: string): Promise<unknown> {
    this.assertOpen()
    const s = quoteIdent(this.schema)
    const rows = await this.query<{ value: string }>(
      'flotilla_get_setting',
      `SELECT value FROM ${s}.settings WHERE key = $1`,
      [key],
    )
    return settingValue(rows[0]?.value)
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    this.assertOpen()
    const text = settingText(key, value)
    const s = quoteIdent(this.schema)
    await this.query(
      'flotilla_put_setting',
      `INSERT INTO ${s}.settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [key, text, Date.now()],
    )
  }

  async listAgents(filter?: AgentFilter): Promise<AgentRecord[]> {
    this.assertOpen()
    return this.agents.list(filter)
  }

  async listAgentTransitions(agentId: string): Promise<AgentTransition[]> {
    return this.agents.transitions(agentId)
  }

  async pruneAgents(before: number): Promise<number> {
    this.assertOpen()
    return this.agents.prune(before)
  }

  /** Closes the queue's LISTEN connection and ends the pool (unless shared), after the queries in flight. Later calls fail with `STORE_UNAVAILABLE`. */
  async close(): Promise<void> {
    this.closed = true
    this.closing ??= (async () => {
      await this.taskQueue?.close()
      if (this.ownsPool) await this.pool.end().catch(() => undefined)
    })()
    await this.closing
  }

  private assertOpen(): void {
    if (this.closed)
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The PostgreSQL store at ${this.where} was closed; connect a new one.`,
        { details: { target: this.where } },
      )
  }

  /**
   * Runs one statement. Every statement of the store and its queue is one
   * autocommit transaction, so one chosen as a deadlock victim (40P01) or
   * failed by serialization (40001) was rolled back whole: it is run again,
   * up to {@link COLLISION_RETRIES} times, after a short random pause.
   */
  private async query<R>(name: string, text: string, values: unknown[]): Promise<R[]> {
    this.assertOpen()
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.pool.query({ name, text, values, types: this.types })
        return result.rows as R[]
      } catch (err) {
        const code = (err as { code?: unknown }).code
        if ((code === '40P01' || code === '40001') && attempt < COLLISION_RETRIES && !this.closed) {
          await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt))
          continue
        }
        throw queryError(err, this.where)
      }
    }
  }
}

const MAX_INT = 2_147_483_647
/** Runs of a statement that collided with a concurrent one (deadlock or serialization failure) before its error is reported. */
const COLLISION_RETRIES = 5

/** A SQL LIMIT as the memory store's `slice` reads it: none for undefined or Infinity, 0 for NaN or a negative number. */
function limitOf(limit: number | undefined): number | null {
  if (limit === undefined || limit === Number.POSITIVE_INFINITY) return null
  return Number.isNaN(limit) ? 0 : Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(limit)))
}

function notFound(runId: RunId): FlotillaError {
  return new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
}
