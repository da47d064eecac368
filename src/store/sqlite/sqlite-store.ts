import { EVENT_BATCH } from '../rows.js'
import type Database from 'better-sqlite3'
import { FlotillaError } from '../../core/errors.js'
import type { RunId, TaskId } from '../../core/ids.js'
import type { AgentState } from '../../core/states.js'
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
import type { Store } from '../store.js'
import { runFromRow as toRunRecord, taskFromRow as toTaskRecord } from '../rows.js'
import { SqliteAgents } from './agents.js'
import { SqliteSettings } from './settings.js'
import { CommitHooks } from '../commit-hooks.js'
import { SqliteQueue } from './sqlite-queue.js'
import type { TaskQueue } from '../queue.js'
import { systemClock, type Clock } from '../../core/clock.js'
import type { RunRow, SqlValue } from './codec.js'
import { appendEvents, applyOp, runNotFound } from './batch.js'
import { sqliteError } from '../../db/sqlite/errors.js'
import { openDatabase } from '../../db/sqlite/open-database.js'
import { prepareStatements, RUN_COLUMNS, type Statements } from './statements.js'
import { STORE_DOMAIN } from './schema.js'
import { tailSqlite } from './tail.js'
import { resolveOptions, type SqliteStoreOptions } from './options.js'

export type { SqliteStoreOptions } from './options.js'

/**
 * The SQLite {@link Store}, Flotilla's durable default (`.flotilla/flotilla.db`),
 * on better-sqlite3 in WAL mode. Each batch is one transaction; task writes are
 * fenced by attempt in SQL; workflow definitions are stored once and shared
 * by the runs that use them; migrations are applied on open.
 *
 * @example
 * ```ts
 * const store = SqliteStore.open({ path: '.flotilla/flotilla.db' })
 * const orchestrator = new Orchestrator({ store })
 * ```
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite'
  readonly commits = new CommitHooks()
  readonly durable = true
  /** The database file, as given. */
  readonly path: string
  private readonly db: Database.Database
  private readonly s: Statements
  private readonly agents: SqliteAgents
  private readonly applyBatch: (batch: StoreBatch) => void
  private readonly prune: (finishedBefore: number) => number
  private readonly listStatements = new Map<string, Database.Statement<SqlValue[], RunRow>>()
  private closed = false
  private taskQueue: SqliteQueue | undefined
  private settings: SqliteSettings | undefined

  private constructor(path: string, db: Database.Database) {
    this.path = path
    this.db = db
    const s = (this.s = prepareStatements(db))
    this.agents = new SqliteAgents(db)
    this.applyBatch = db.transaction((batch: StoreBatch) => {
      const ops = batch.ops
      for (let i = 0; i < ops.length; i++) applyOp(s, ops[i])
      if (batch.events.length > 0) appendEvents(s, batch.events)
    }).immediate // takes the write lock at BEGIN, so a busy writer is waited for (busyTimeoutMs), never a failed lock upgrade
    this.prune = db.transaction((finishedBefore: number) => {
      this.s.keepPositions.run() // a deleted row's position is never given again
      const deleted = this.s.pruneRuns.run(finishedBefore).changes
      if (deleted > 0) this.s.pruneDefinitions.run()
      return deleted
    }).immediate
  }

  /**
   * Opens (or creates) a store. Throws `STORE_NOT_FLOTILLA` for a file that
   * is not a Flotilla store (left untouched), `STORE_SCHEMA_TOO_NEW` for one
   * written by a newer Flotilla, `STORE_UNAVAILABLE` for a path that cannot
   * be opened.
   */
  static open(options: SqliteStoreOptions): SqliteStore {
    const db = openDatabase({ ...resolveOptions(options), domains: [STORE_DOMAIN] })
    try {
      return new SqliteStore(options.path, db)
    } catch (e) {
      db.close()
      throw toStoreError(e, options.path)
    }
  }

  async commit(batch: StoreBatch): Promise<void> {
    this.commitSync(batch)
  }

  commitSync(batch: StoreBatch): void {
    this.assertOpen()
    if (batch.ops.length === 0 && batch.events.length === 0) return
    const end = this.commits.active ? this.commits.startBatch('sqlite', batch) : undefined
    try {
      this.applyBatch(batch)
    } catch (e) {
      const error = toStoreError(e, this.path)
      end?.(error)
      throw error
    }
    end?.()
  }

  /** The task queue on this store's file (the same object on every call). */
  queue(clock: Clock = systemClock): TaskQueue {
    return (this.taskQueue ??= new SqliteQueue(
      this.db,
      clock,
      (events) => appendEvents(this.s, events),
      (fn) => this.read(fn),
      this.commits,
    ))
  }

  async getRun(runId: RunId): Promise<RunRecord | undefined> {
    return this.read(() => {
      const row = this.s.getRun.get(runId)
      return row && toRunRecord(row)
    })
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.read(() => {
      const states =
        filter.state === undefined ? undefined : typeof filter.state === 'string' ? [filter.state] : [...filter.state]
      if (states?.length === 0) return []
      const where: string[] = []
      const params: SqlValue[] = []
      if (states) {
        where.push(`r.state IN (${states.map(() => '?').join(', ')})`)
        params.push(...states)
      }
      if (filter.workflow !== undefined) {
        where.push('r.workflow = ?')
        params.push(filter.workflow)
      }
      if (filter.parentRunId !== undefined) {
        where.push('r.parent_run_id = ?')
        params.push(filter.parentRunId)
      }
      params.push(Math.max(0, Math.floor(filter.limit ?? 100)))
      const sql = `SELECT ${RUN_COLUMNS} FROM runs r JOIN definitions d ON d.hash = r.definition_hash${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY r.created_at DESC, r.id DESC LIMIT ?`
      let statement = this.listStatements.get(sql)
      if (!statement) this.listStatements.set(sql, (statement = this.db.prepare<SqlValue[], RunRow>(sql)))
      return statement.all(...params).map(toRunRecord)
    })
  }

  async getTasks(runId: RunId): Promise<TaskRecord[]> {
    return this.read(() => {
      const rows = this.s.getTasks.all(runId)
      if (rows.length === 0) this.assertRun(runId)
      return rows.map(toTaskRecord)
    })
  }

  async getTask(runId: RunId, taskId: TaskId): Promise<TaskRecord | undefined> {
    return this.read(() => {
      const row = this.s.getTask.get(runId, taskId)
      return row && toTaskRecord(row)
    })
  }

  async listEvents(runId: RunId, options: { afterSeq?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    return this.read(() => {
      const limit = options.limit === undefined ? Infinity : Math.max(0, Math.floor(options.limit))
      const after = options.afterSeq ?? 0
      const rows = this.s.listEvents.all(runId, after)
      if (rows.length === 0) this.assertRun(runId)
      const out: StoredEvent[] = []
      for (const row of rows) {
        const events = EVENT_BATCH.decodeRequired(row.body, `events ${row.first_seq}… of run ${runId}`)
        for (let k = 0; k < events.length && out.length < limit; k++) {
          const seq = row.first_seq + k
          if (seq > after) out.push({ seq, event: events[k] })
        }
        if (out.length >= limit) break
      }
      return out
    })
  }

  async tailEvents(options: TailOptions = {}): Promise<TailPage> {
    return this.read(() => tailSqlite(this.s, options))
  }

  async pruneRuns(finishedBefore: number): Promise<number> {
    return this.read(() => this.prune(finishedBefore))
  }

  async saveAgent(
    record: AgentRecord,
    transition: { from: AgentState | null; to: AgentState; reason: string | null; at: number },
  ): Promise<void> {
    this.read(() => this.agents.save(record, transition))
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    return this.read(() => this.agents.find(id))
  }

  async getSetting(key: string): Promise<unknown> {
    return this.read(() => (this.settings ??= new SqliteSettings(this.db)).get(key))
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    this.read(() => (this.settings ??= new SqliteSettings(this.db)).put(key, value))
  }

  async listAgents(filter?: AgentFilter): Promise<AgentRecord[]> {
    return this.read(() => this.agents.list(filter))
  }

  async listAgentTransitions(agentId: string): Promise<AgentTransition[]> {
    return this.read(() => this.agents.transitions(agentId))
  }

  async pruneAgents(before: number): Promise<number> {
    return this.read(() => this.agents.prune(before))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new FlotillaError(
        'STORE_UNAVAILABLE',
        `The SQLite store "${this.path}" was closed; open it again with SqliteStore.open or openStore.`,
        { details: { path: this.path }, retryable: false },
      )
    }
  }

  private read<T>(fn: () => T): T {
    this.assertOpen()
    try {
      return fn()
    } catch (e) {
      throw toStoreError(e, this.path)
    }
  }

  private assertRun(runId: RunId): void {
    if (this.s.runState.get(runId) === undefined) throw runNotFound(runId)
  }
}

/** Keeps Flotilla errors; an SQLite error becomes `STORE_UNAVAILABLE` with its SQLite code in details. */
function toStoreError(e: unknown, path: string): FlotillaError {
  return sqliteError(e, path, 'store')
}
