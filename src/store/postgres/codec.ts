import { EVENT_BODY } from '../rows.js'
import { FlotillaError } from '../../core/errors.js'
import type { StoreBatch, StoredEvent, StoreOp } from '../records.js'

/**
 * The parameters of one `flotilla_commit` call: the structure of the writes
 * as JSON, and every payload as a separate JSON text referenced by 1-based
 * index (absent index: `undefined`, stored as SQL NULL).
 */
export interface CommitParams {
  ops: string
  vals: (string | null)[]
  evRuns: string[]
  evBodies: string[]
}

/** Turns a batch into the parameters of `flotilla_commit`. */
export function encodeBatch(batch: StoreBatch): CommitParams {
  const vals: (string | null)[] = []
  const put = (value: unknown, what: string): number | undefined => {
    if (value === undefined) return undefined
    let json: string | undefined
    try {
      json = JSON.stringify(value)
    } catch (err) {
      throw notJson(what, err)
    }
    if (json === undefined) return undefined // functions and symbols, as JSON.stringify drops them in objects
    return vals.push(json)
  }
  const ops: object[] = new Array(batch.ops.length)
  for (let i = 0; i < batch.ops.length; i++) ops[i] = encodeOp(batch.ops[i], put)
  const n = batch.events.length
  const evRuns: string[] = new Array(n)
  const evBodies: string[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const e = batch.events[i]
    evRuns[i] = e.runId
    try {
      evBodies[i] = JSON.stringify(e)
    } catch (err) {
      throw notJson(`event ${e.type} of run "${e.runId}"`, err)
    }
  }
  return { ops: JSON.stringify(ops), vals, evRuns, evBodies }
}

type Put = (value: unknown, what: string) => number | undefined

function encodeOp(op: StoreOp, put: Put): object {
  switch (op.op) {
    case 'task.start':
      return { k: 'start', r: op.runId, t: op.taskId, a: op.attempt, at: op.at, ag: op.agent }
    case 'task.succeed':
      return {
        k: 'succeed',
        r: op.runId,
        t: op.taskId,
        a: op.attempt,
        at: op.at,
        v: put(op.output, `the output of task "${op.taskId}" (run "${op.runId}")`),
        m: put(op.model, `the model spend of task "${op.taskId}"`),
      }
    case 'task.fail':
      return {
        k: 'fail',
        r: op.runId,
        t: op.taskId,
        a: op.attempt,
        at: op.at,
        f: op.final,
        st: op.settle === true,
        e: put(op.error, `the error of task "${op.taskId}"`),
        m: put(op.model, `the model spend of task "${op.taskId}"`),
      }
    case 'task.finish':
      return { k: 'finish', r: op.runId, t: op.taskId, at: op.at, s: op.state }
    case 'run.summary':
      return { k: 'summary', r: op.runId, v: put(op.summary, `the summary of run "${op.runId}"`) }
    case 'run.state':
      return { k: 'state', r: op.runId, s: op.state, at: op.at, e: put(op.error, `the error of run "${op.runId}"`) }
    case 'run.create': {
      const r = op.run
      return {
        k: 'create',
        r: r.id,
        ho: op.holder,
        lu: op.leaseUntil,
        wf: r.workflow,
        wh: r.workflowHash,
        s: r.state,
        ca: r.createdAt,
        sa: r.startedAt,
        fa: r.finishedAt,
        pr: r.parentRunId,
        pt: r.parentTaskId,
        tp: r.traceParent,
        d: put(r.definition, `the definition of run "${r.id}"`),
        v: put(r.input, `the input of run "${r.id}"`),
        e: put(r.error, `the error of run "${r.id}"`),
        ts: op.tasks.map((t) => ({
          t: t.taskId,
          s: t.state,
          a: t.attempt,
          ag: t.agent,
          p: t.priority,
          key: t.idempotencyKey,
          sa: t.startedAt,
          fa: t.finishedAt,
          v: put(t.output, `the output of task "${t.taskId}"`),
          e: put(t.error, `the error of task "${t.taskId}"`),
        })),
      }
    }
  }
}

/** `value` as the JSON text of a json column (`undefined`: SQL NULL); `VALIDATION_FAILED` when it is not JSON-serialisable. */
export function jsonText(value: unknown, what: string): string | null {
  if (value === undefined) return null
  try {
    return JSON.stringify(value) ?? null
  } catch (err) {
    throw notJson(what, err)
  }
}

function notJson(what: string, err: unknown): FlotillaError {
  const why = err instanceof Error ? err.message : String(err)
  return new FlotillaError(
    'VALIDATION_FAILED',
    `Cannot store ${what}: it is not JSON-serialisable (${why}). Return plain objects, arrays, strings, numbers, booleans or null.`,
    {
      cause: err,
      details: { what },
    },
  )
}

export type { RunRow, TaskRow } from '../rows.js'

/** The columns of {@link RunRow}, for SELECT lists (`r` is `runs`, `d` is `definitions`). */
export const RUN_COLUMNS =
  'r.id, r.workflow, r.workflow_hash, d.body AS definition, r.input, r.state, r.created_at, r.started_at, r.finished_at, r.error, r.parent_run_id, r.parent_task_id, r.trace_parent, r.summary'

/** The columns of {@link TaskRow}, for SELECT lists (`t` is `tasks`). */
export const TASK_COLUMNS =
  't.run_id, t.task_id, t.state, t.attempt, t.agent, t.priority, t.idempotency_key, t.started_at, t.finished_at, t.output, t.error, t.model'

export { runFromRow as decodeRun, taskFromRow as decodeTask } from '../rows.js'

/** A stored event from its sequence number and JSON text. */
export function decodeEvent(seq: number, body: string): StoredEvent {
  return { seq, event: EVENT_BODY.decodeRequired(body, `event ${seq}`) }
}
