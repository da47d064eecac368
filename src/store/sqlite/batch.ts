import type { RunEvent } from '../../core/events.js'
import { FlotillaError } from '../../core/errors.js'
import type { RunId, TaskId } from '../../core/ids.js'
import { isFinalRunState } from '../../core/states.js'
import type { StoreOp } from '../records.js'
import { refusedByRun, runRefusal } from '../fence.js'
import { encodeDefinition, toJson } from './codec.js'
import type { Statements } from './statements.js'

/**
 * The writes of a `SqliteStore` batch: its ops (runs created, run
 * states, task attempts fenced by attempt in SQL) and its events, one row per
 * run per batch. Each function runs inside the batch's transaction, on the
 * store's prepared statements; errors are left to the store to map.
 */

type TaskOp = Extract<StoreOp, { taskId: TaskId }>

/**
 * Applies one op of a batch, inside the batch's transaction. Task writes are
 * fenced in SQL (see {@link Statements}); one that changes no row is refused
 * with the reason read back from the store.
 */
export function applyOp(s: Statements, op: StoreOp): void {
  switch (op.op) {
    case 'run.create': {
      const run = op.run
      const def = encodeDefinition(run.definition)
      s.insertDefinition.run(def.hash, def.body)
      const inserted = s.insertRun.run(
        run.id,
        run.workflow,
        run.workflowHash,
        def.hash,
        toJson(run.input, 'run input'),
        run.state,
        run.createdAt,
        run.startedAt ?? null,
        run.finishedAt ?? null,
        toJson(run.error, 'run error'),
        run.parentRunId ?? null,
        run.parentTaskId ?? null,
        run.traceParent ?? null,
      )
      if (inserted.changes !== 1)
        throw new FlotillaError('STORE_CONFLICT', `Run "${run.id}" already exists.`, { details: { runId: run.id } })
      const tasks = op.tasks
      for (let i = 0; i < tasks.length; i++) {
        const t = tasks[i]
        const added = s.insertTask.run(
          run.id,
          t.taskId,
          i,
          t.state,
          t.attempt,
          t.agent ?? null,
          t.priority,
          t.idempotencyKey,
          t.startedAt ?? null,
          t.finishedAt ?? null,
          toJson(t.output, 'output of task', t.taskId),
          toJson(t.error, 'task error'),
        )
        if (added.changes !== 1)
          throw new FlotillaError('STORE_CONFLICT', `Run "${run.id}" lists task "${t.taskId}" twice.`, {
            details: { runId: run.id, taskId: t.taskId },
          })
      }
      if (op.holder !== undefined) s.setHolder.run(op.holder, op.leaseUntil ?? 0, run.id)
      return
    }
    case 'run.state': {
      const final = isFinalRunState(op.state)
      const changed = s.setRunState.run(
        op.state,
        op.state === 'RUNNING' ? op.at : null,
        final ? op.at : null,
        toJson(op.error, 'run error'),
        op.runId,
        op.state,
      ).changes
      if (changed !== 1) {
        const row = s.runState.get(op.runId)
        if (row === undefined) throw runNotFound(op.runId)
        throw new FlotillaError(
          'STORE_CONFLICT',
          `Run "${op.runId}" is already ${row.state}; it cannot become ${op.state}.`,
          { details: { runId: op.runId, state: row.state } },
        )
      }
      return
    }
    case 'run.summary':
      if (s.setSummary.run(toJson(op.summary, 'run summary'), op.runId).changes !== 1) throw runNotFound(op.runId)
      return
    case 'task.start':
      if (s.startTask.run(op.attempt, op.agent, op.at, op.runId, op.taskId, op.attempt).changes !== 1) refuse(s, op)
      return
    case 'task.succeed':
      if (
        s.succeedTask.run(
          toJson(op.output, 'output of task', op.taskId),
          op.at,
          toJson(op.model, 'model spend of task', op.taskId),
          op.runId,
          op.taskId,
          op.attempt,
        ).changes !== 1
      )
        refuse(s, op)
      return
    case 'task.fail':
      if (
        s.failTask.run(
          op.final ? 'FAILED' : 'RETRYING',
          toJson(op.error, 'task error'),
          op.final ? op.at : null,
          toJson(op.model, 'model spend of task', op.taskId),
          op.runId,
          op.taskId,
          op.attempt,
          op.settle === true ? 1 : 0,
        ).changes !== 1
      )
        refuse(s, op)
      return
    case 'task.finish':
      if (s.finishTask.run(op.state, op.at, op.runId, op.taskId).changes !== 1) refuse(s, op)
      return
  }
}

/** Says why a fenced task write changed no row (read inside the batch's transaction, so it sees the batch's earlier ops). */
function refuse(s: Statements, op: TaskOp): never {
  const { runId, taskId } = op
  const row = s.taskState.get(runId, taskId)
  if (row === undefined) {
    if (s.runState.get(runId) === undefined) throw runNotFound(runId)
    throw new FlotillaError('STORE_CONFLICT', `Run "${runId}" has no task "${taskId}".`, {
      details: { runId, taskId },
    })
  }
  const stored = { runId, taskId, storedAttempt: row.attempt, storedState: row.state }
  const runState = s.runState.get(runId)?.state
  if (runState !== undefined && op.op !== 'task.finish' && refusedByRun(op.op, runState)) throw runRefusal(op, runState)
  switch (op.op) {
    case 'task.start':
      throw new FlotillaError(
        'STORE_CONFLICT',
        `Task "${taskId}" of run "${runId}" cannot start attempt ${op.attempt} (stored attempt ${row.attempt}, ${row.state}).`,
        { details: { ...stored, attempt: op.attempt } },
      )
    case 'task.succeed':
    case 'task.fail':
      throw new FlotillaError(
        'STORE_CONFLICT',
        `Attempt ${op.attempt} of task "${taskId}" in run "${runId}" is stale (stored attempt ${row.attempt}, ${row.state}); its result is discarded.`,
        { details: { ...stored, attempt: op.attempt } },
      )
    case 'task.finish':
      throw new FlotillaError(
        'STORE_CONFLICT',
        `Task "${taskId}" of run "${runId}" is already finished (${row.state}).`,
        { details: stored },
      )
  }
}

/**
 * Appends events, numbered after each run's last one (read once per run per
 * batch); events of runs not in the store are dropped, as the memory store
 * does.
 */
export function appendEvents(s: Statements, events: readonly RunEvent[]): void {
  // Group by run (events of a batch usually come run by run), one row per group.
  const groups = new Map<string, string[]>()
  for (let i = 0; i < events.length; i++) {
    const e = events[i]
    let bodies = groups.get(e.runId)
    if (bodies === undefined) groups.set(e.runId, (bodies = []))
    bodies.push(toJson(e, 'event', e.type)!)
  }
  for (const [runId, bodies] of groups) {
    const last = s.lastEventSeq.get(runId)?.last
    if (last === undefined) continue // events of runs not in the store are dropped, as the memory store does
    s.insertEvent.run(runId, last + 1, last + bodies.length, `[${bodies.join(',')}]`)
  }
}

/** `RUN_NOT_FOUND` for a run not in the store. */
export function runNotFound(runId: RunId): FlotillaError {
  return new FlotillaError(
    'RUN_NOT_FOUND',
    `No run "${runId}" in the store. Check the id with \`flotilla runs list\`.`,
    { details: { runId } },
  )
}
