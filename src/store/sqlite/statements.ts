import type Database from 'better-sqlite3'
import type { RunState, TaskState } from '../../core/states.js'
import type { RunRow, SqlValue, TaskRow } from './codec.js'

type Statement<Row = unknown> = Database.Statement<SqlValue[], Row>

const FINAL_TASK = "('SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED')"
const FINAL_RUN = "('SUCCEEDED', 'FAILED', 'CANCELLED')"
/** A task may start only while its run is PENDING or RUNNING (not PAUSED, CANCELLED or final). */
const RUN_STARTS = "(SELECT state FROM runs WHERE id = tasks.run_id) IN ('PENDING', 'RUNNING')"
/** A result is stored only while its run is not CANCELLED or final (a PAUSED run takes the results of attempts already running). */
const RUN_LIVE = "(SELECT state FROM runs WHERE id = tasks.run_id) IN ('PENDING', 'RUNNING', 'PAUSED')"

/** The columns of a run record (runs `r` joined with definitions `d`). */
export const RUN_COLUMNS =
  'r.id, r.workflow, r.workflow_hash, d.body AS definition, r.input, r.state, r.created_at, r.started_at, r.finished_at, r.error, r.parent_run_id, r.parent_task_id, r.trace_parent, r.summary'
/** The columns of a task record. */
export const TASK_COLUMNS =
  'run_id, task_id, state, attempt, agent, priority, idempotency_key, started_at, finished_at, output, error, model'

/**
 * The prepared statements of a {@link SqliteStore}, prepared once on open.
 * The task writes carry their fencing in the `WHERE` clause: a write that
 * changes no row was refused, and the store works out why.
 */
export interface Statements {
  /** (hash, body) */
  insertDefinition: Statement
  /** (id, workflow, workflow_hash, definition_hash, input, state, created_at, started_at, finished_at, error, parent_run_id, trace_parent); ignored when the id exists. */
  insertRun: Statement
  /** (run_id, task_id, idx, state, attempt, agent, priority, idempotency_key, started_at, finished_at, output, error); ignored when the task exists. */
  insertTask: Statement
  /** (state, startedAtIfRunning, finishedAtIfFinal, error, id, state): refused when the stored state is final and different. */
  setRunState: Statement
  /** (attempt, agent, at, run_id, task_id, attempt): only a higher attempt of a task not finished, of a PENDING or RUNNING run. */
  startTask: Statement
  /** (output, at, model, run_id, task_id, attempt): only the running attempt, of a run not CANCELLED or final; a NULL model keeps the stored one. */
  succeedTask: Statement
  /** (state, error, finishedAtIfFinal, model, run_id, task_id, attempt, settle): only the running attempt (or, with settle = 1, the retrying one), of a run not CANCELLED or final. */
  failTask: Statement
  /** (holder, lease_until, id) */
  setHolder: Statement
  /** (summary, id): a run's generated summary. */
  setSummary: Statement
  /** (state, at, run_id, task_id): only a task not finished. */
  finishTask: Statement
  /** (run_id, first_seq, last_seq, body): the row takes the next position (`pos`). */
  insertEvent: Statement
  /** (id): the run's last event number; no row for an unknown run. */
  lastEventSeq: Statement<{ last: number }>
  /** (id) */
  runState: Statement<{ state: RunState }>
  /** (run_id, task_id) */
  taskState: Statement<{ state: TaskState; attempt: number }>
  /** (id) */
  getRun: Statement<RunRow>
  /** (run_id) */
  getTasks: Statement<TaskRow>
  /** (run_id, task_id) */
  getTask: Statement<TaskRow>
  /** (run_id, afterSeq, limit) */
  listEvents: Statement<{ first_seq: number; body: string }>
  /** (pos, limit): rows from position `pos` on, in commit order. */
  tailEvents: Statement<TailRow>
  /** (run_id, pos, limit): the run's rows from position `pos` on, in commit order. */
  tailRunEvents: Statement<TailRow>
  /** (): raises the floor of positions to the highest in use, before rows are deleted. */
  keepPositions: Statement
  /** (finishedBefore) */
  pruneRuns: Statement
  /** () */
  pruneDefinitions: Statement
}

/** An event row as a tail reads it. */
export interface TailRow {
  run_id: string
  first_seq: number
  pos: number
  body: string
}

/** The next position of an event row: above every row's and above every deleted one's (the floor). */
const NEXT_POS =
  '1 + max(coalesce((SELECT max(pos) FROM events), 0), coalesce((SELECT floor FROM event_positions WHERE id = 1), 0))'

/** Prepares every statement of the store once. */
export function prepareStatements(db: Database.Database): Statements {
  const p = <Row = unknown>(sql: string): Statement<Row> => db.prepare<SqlValue[], Row>(sql)
  return {
    insertDefinition: p('INSERT OR IGNORE INTO definitions (hash, body) VALUES (?, ?)'),
    insertRun:
      p(`INSERT OR IGNORE INTO runs (id, workflow, workflow_hash, definition_hash, input, state, created_at, started_at, finished_at, error, parent_run_id, parent_task_id, trace_parent)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    insertTask:
      p(`INSERT OR IGNORE INTO tasks (run_id, task_id, idx, state, attempt, agent, priority, idempotency_key, started_at, finished_at, output, error)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    setRunState:
      p(`UPDATE runs SET state = ?, started_at = COALESCE(started_at, ?), finished_at = COALESCE(?, finished_at), error = COALESCE(?, error)
      WHERE id = ? AND (state NOT IN ${FINAL_RUN} OR state = ?)`),
    startTask: p(`UPDATE tasks SET state = 'RUNNING', attempt = ?, agent = ?, started_at = ?
      WHERE run_id = ? AND task_id = ? AND attempt < ? AND state NOT IN ${FINAL_TASK} AND ${RUN_STARTS}`),
    succeedTask:
      p(`UPDATE tasks SET state = 'SUCCEEDED', output = ?, finished_at = ?, error = NULL, model = COALESCE(?, model)
      WHERE run_id = ? AND task_id = ? AND attempt = ? AND state = 'RUNNING' AND ${RUN_LIVE}`),
    failTask:
      p(`UPDATE tasks SET state = ?, error = ?, finished_at = COALESCE(?, finished_at), model = COALESCE(?, model)
      WHERE run_id = ? AND task_id = ? AND attempt = ? AND (state = 'RUNNING' OR (state = 'RETRYING' AND ? = 1)) AND ${RUN_LIVE}`),
    setHolder: p('UPDATE runs SET holder = ?, lease_until = ? WHERE id = ?'),
    setSummary: p('UPDATE runs SET summary = ? WHERE id = ?'),
    finishTask: p(`UPDATE tasks SET state = ?, finished_at = ?
      WHERE run_id = ? AND task_id = ? AND state NOT IN ${FINAL_TASK}`),
    insertEvent: p(`INSERT INTO events (run_id, first_seq, last_seq, body, pos) VALUES (?, ?, ?, ?, ${NEXT_POS})`),
    // The newest chunk by primary key: an index seek, not a scan of the run's events.
    lastEventSeq: p(
      'SELECT COALESCE((SELECT last_seq FROM events WHERE run_id = r.id ORDER BY first_seq DESC LIMIT 1), 0) AS last FROM runs r WHERE r.id = ?',
    ),
    runState: p('SELECT state FROM runs WHERE id = ?'),
    taskState: p('SELECT state, attempt FROM tasks WHERE run_id = ? AND task_id = ?'),
    getRun: p(`SELECT ${RUN_COLUMNS} FROM runs r JOIN definitions d ON d.hash = r.definition_hash WHERE r.id = ?`),
    getTasks: p(`SELECT ${TASK_COLUMNS} FROM tasks WHERE run_id = ? ORDER BY idx`),
    getTask: p(`SELECT ${TASK_COLUMNS} FROM tasks WHERE run_id = ? AND task_id = ?`),
    listEvents: p('SELECT first_seq, body FROM events WHERE run_id = ? AND last_seq > ? ORDER BY first_seq'),
    tailEvents: p<TailRow>('SELECT run_id, first_seq, pos, body FROM events WHERE pos >= ? ORDER BY pos LIMIT ?'),
    // A run's rows by its key: their positions ascend with first_seq (one writer at a time).
    tailRunEvents: p<TailRow>(
      'SELECT run_id, first_seq, pos, body FROM events WHERE run_id = ? AND pos >= ? ORDER BY first_seq LIMIT ?',
    ),
    keepPositions: p(
      'UPDATE event_positions SET floor = max(floor, coalesce((SELECT max(pos) FROM events), 0)) WHERE id = 1',
    ),
    pruneRuns: p(`DELETE FROM runs WHERE state IN ${FINAL_RUN} AND finished_at < ?`),
    pruneDefinitions: p('DELETE FROM definitions WHERE hash NOT IN (SELECT definition_hash FROM runs)'),
  }
}
