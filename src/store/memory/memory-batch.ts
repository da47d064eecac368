import { FlotillaError } from '../../core/errors.js'
import type { RunEvent } from '../../core/events.js'
import type { RunId, TaskId } from '../../core/ids.js'
import { isFinalRunState, isFinalTaskState, type RunState } from '../../core/states.js'
import type { RunRecord, StoreOp, TaskRecord } from '../records.js'
import { refusedByRun, runRefusal } from '../fence.js'

/** A stored run: its record, its tasks and its events. */
export interface RunEntry {
  run: RunRecord
  tasks: Map<TaskId, TaskSlot>
  order: TaskRecord[]
  /** The run's events; an event's `seq` is its index + 1. */
  events: RunEvent[]
  /** The process coordinating the run, and until when (wall-clock ms). */
  holder: string | undefined
  leaseUntil: number
}

/**
 * A stored task and the scratch state a batch sees while it is validated
 * (valid while `epoch` equals the batch number), so validation allocates
 * nothing per op.
 */
export interface TaskSlot {
  rec: TaskRecord
  epoch: number
  attempt: number
  running: boolean
  retrying: boolean
  final: boolean
}

/**
 * Checks every op of a batch against the stored `runs` plus the effects of
 * earlier ops of the batch; throws before anything is applied. `epoch` is the
 * batch's number (see {@link TaskSlot}). Returns the runs the batch creates.
 */
export function validateBatch(
  runs: ReadonlyMap<RunId, RunEntry>,
  epoch: number,
  ops: readonly StoreOp[],
): Map<RunId, RunEntry> | undefined {
  let created: Map<RunId, RunEntry> | undefined
  let runStates: Map<RunId, RunState> | undefined
  const slotOf = (runId: RunId, taskId: TaskId): TaskSlot => {
    const entry = runs.get(runId) ?? created?.get(runId)
    if (entry === undefined)
      throw new FlotillaError('RUN_NOT_FOUND', `No run "${runId}" in the store.`, { details: { runId } })
    const slot = entry.tasks.get(taskId)
    if (slot === undefined)
      throw new FlotillaError('STORE_CONFLICT', `Run "${runId}" has no task "${taskId}".`, {
        details: { runId, taskId },
      })
    if (slot.epoch !== epoch) {
      slot.epoch = epoch
      slot.attempt = slot.rec.attempt
      slot.running = slot.rec.state === 'RUNNING'
      slot.retrying = slot.rec.state === 'RETRYING'
      slot.final = isFinalTaskState(slot.rec.state)
    }
    return slot
  }
  for (const op of ops) {
    switch (op.op) {
      case 'run.create': {
        if (runs.has(op.run.id) || created?.has(op.run.id)) {
          throw new FlotillaError('STORE_CONFLICT', `Run "${op.run.id}" already exists.`, {
            details: { runId: op.run.id },
          })
        }
        const tasks = new Map<TaskId, TaskSlot>()
        const order: TaskRecord[] = new Array(op.tasks.length)
        for (let i = 0; i < op.tasks.length; i++) {
          const rec = { ...op.tasks[i] } // fields are primitives until a task runs
          if (tasks.has(rec.taskId))
            throw new FlotillaError('STORE_CONFLICT', `Run "${op.run.id}" lists task "${rec.taskId}" twice.`, {
              details: { runId: op.run.id, taskId: rec.taskId },
            })
          tasks.set(rec.taskId, { rec, epoch: 0, attempt: 0, running: false, retrying: false, final: false })
          order[i] = rec
        }
        const run = { ...op.run, input: copy(op.run.input), error: copy(op.run.error) }
        ;(created ??= new Map()).set(op.run.id, {
          run,
          tasks,
          order,
          events: [],
          holder: op.holder,
          leaseUntil: op.leaseUntil ?? 0,
        })
        ;(runStates ??= new Map()).set(op.run.id, op.run.state)
        break
      }
      case 'run.state': {
        const run = runs.get(op.runId)?.run
        if (!run && !created?.has(op.runId))
          throw new FlotillaError('RUN_NOT_FOUND', `No run "${op.runId}" in the store.`, {
            details: { runId: op.runId },
          })
        const current = runStates?.get(op.runId) ?? run!.state
        if (isFinalRunState(current) && current !== op.state) {
          throw new FlotillaError(
            'STORE_CONFLICT',
            `Run "${op.runId}" is already ${current}; it cannot become ${op.state}.`,
            { details: { runId: op.runId, state: current } },
          )
        }
        ;(runStates ??= new Map()).set(op.runId, op.state)
        break
      }
      case 'run.summary':
        if (!runs.has(op.runId) && !created?.has(op.runId))
          throw new FlotillaError('RUN_NOT_FOUND', `No run "${op.runId}" in the store.`, {
            details: { runId: op.runId },
          })
        break
      case 'task.start': {
        const p = slotOf(op.runId, op.taskId)
        const rs = runStates?.get(op.runId) ?? runs.get(op.runId)!.run.state
        if (refusedByRun('task.start', rs)) throw runRefusal(op, rs)
        if (p.final || op.attempt <= p.attempt) {
          throw new FlotillaError(
            'STORE_CONFLICT',
            `Task "${op.taskId}" of run "${op.runId}" cannot start attempt ${op.attempt} (stored attempt ${p.attempt}${p.final ? ', finished' : ''}).`,
            {
              details: { runId: op.runId, taskId: op.taskId, attempt: op.attempt, storedAttempt: p.attempt },
            },
          )
        }
        p.attempt = op.attempt
        p.running = true
        break
      }
      case 'task.succeed':
      case 'task.fail': {
        const p = slotOf(op.runId, op.taskId)
        const rs = runStates?.get(op.runId) ?? runs.get(op.runId)!.run.state
        if (refusedByRun(op.op, rs)) throw runRefusal(op, rs)
        const settling = op.op === 'task.fail' && op.settle === true && p.retrying
        if ((!p.running && !settling) || p.final || op.attempt !== p.attempt) {
          throw new FlotillaError(
            'STORE_CONFLICT',
            `Attempt ${op.attempt} of task "${op.taskId}" in run "${op.runId}" is stale (stored attempt ${p.attempt}); its result is discarded.`,
            {
              details: { runId: op.runId, taskId: op.taskId, attempt: op.attempt, storedAttempt: p.attempt },
            },
          )
        }
        p.running = false
        p.final = op.op === 'task.succeed' || op.final
        p.retrying = !p.final
        break
      }
      case 'task.finish': {
        const p = slotOf(op.runId, op.taskId)
        if (p.final)
          throw new FlotillaError('STORE_CONFLICT', `Task "${op.taskId}" of run "${op.runId}" is already finished.`, {
            details: { runId: op.runId, taskId: op.taskId },
          })
        p.final = true
        p.running = false
        break
      }
    }
  }
  return created
}

/** Applies one op of a batch that {@link validateBatch} accepted (`created`: the runs it creates). */
export function applyOp(runs: Map<RunId, RunEntry>, op: StoreOp, created: Map<RunId, RunEntry> | undefined): void {
  switch (op.op) {
    case 'run.create':
      runs.set(op.run.id, created!.get(op.run.id)!)
      return
    case 'run.state': {
      const run = runs.get(op.runId)!.run
      run.state = op.state
      if (op.state === 'RUNNING' && run.startedAt === undefined) run.startedAt = op.at
      if (isFinalRunState(op.state)) run.finishedAt = op.at
      if (op.error) run.error = copy(op.error)
      return
    }
    case 'run.summary':
      runs.get(op.runId)!.run.summary = copy(op.summary)
      return
    case 'task.start': {
      const t = runs.get(op.runId)!.tasks.get(op.taskId)!.rec
      t.state = 'RUNNING'
      t.attempt = op.attempt
      t.agent = op.agent
      t.startedAt = op.at
      return
    }
    case 'task.succeed': {
      const t = runs.get(op.runId)!.tasks.get(op.taskId)!.rec
      t.state = 'SUCCEEDED'
      t.output = copy(op.output)
      t.finishedAt = op.at
      t.error = undefined
      if (op.model !== undefined) t.model = { ...op.model }
      return
    }
    case 'task.fail': {
      const t = runs.get(op.runId)!.tasks.get(op.taskId)!.rec
      t.state = op.final ? 'FAILED' : 'RETRYING'
      t.error = copy(op.error)
      if (op.final) t.finishedAt = op.at
      if (op.model !== undefined) t.model = { ...op.model }
      return
    }
    case 'task.finish': {
      const t = runs.get(op.runId)!.tasks.get(op.taskId)!.rec
      t.state = op.state
      t.finishedAt = op.at
      return
    }
  }
}

/** A deep copy of a JSON-like value (plain objects and arrays); fast for the small values tasks return. */
export function copy<T>(value: T): T {
  // Frozen values (workflow definitions are deep-frozen) cannot change: share them.
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value
  if (Array.isArray(value)) {
    const out = new Array(value.length)
    for (let i = 0; i < value.length; i++) out[i] = copy(value[i])
    return out as T
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return structuredClone(value)
  const out: Record<string, unknown> = {}
  for (const k in value) out[k] = copy((value as Record<string, unknown>)[k])
  return out as T
}
