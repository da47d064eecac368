import type { RunEvent, RunProgress } from '../core/events.js'
import type { SerializedError } from '../core/errors.js'
import type { TaskState } from '../core/states.js'
import type { TaskRecord } from '../store/records.js'
import type { Workflow } from '../workflows/compile.js'

/** What the display knows about one task. */
export interface TaskView {
  readonly id: string
  /** The agent of the last attempt, or what the task asks for before it starts. */
  agent: string
  state: TaskState
  attempts: number
  /** Wall-clock start of the current attempt (epoch ms). */
  startedAt: number | undefined
  /** Duration of the last finished attempt. */
  durationMs: number | undefined
  /** Last `ctx.progress` of the running attempt. */
  fraction: number | undefined
  note: string | undefined
  error: SerializedError | undefined
}

/**
 * Follows the events of one run and keeps a view of every task and of the
 * run's progress, for the live display. Each event updates one task.
 */
export class TaskBoard {
  readonly tasks: TaskView[]
  private readonly byId = new Map<string, TaskView>()
  /** Last progress the run reported. */
  progress: RunProgress | undefined
  /** Final state of the run, once known. */
  finished: 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | undefined

  constructor(workflow: Workflow) {
    this.tasks = workflow.tasks.map((t) => {
      const view: TaskView = {
        id: t.id,
        agent: 'agent' in t.selector ? t.selector.agent : `(${t.selector.capability})`,
        state: 'PENDING',
        attempts: 0,
        startedAt: undefined,
        durationMs: undefined,
        fraction: undefined,
        note: undefined,
        error: undefined,
      }
      this.byId.set(t.id, view)
      return view
    })
  }

  /**
   * Starts from stored task records (a recovered or replayed run): finished
   * tasks show their stored outcome; tasks that were running or waiting show
   * as pending until they start again.
   */
  seed(records: readonly TaskRecord[]): void {
    for (const r of records) {
      this.update(r.taskId, (t) => {
        const finished =
          r.state === 'SUCCEEDED' || r.state === 'FAILED' || r.state === 'SKIPPED' || r.state === 'CANCELLED'
        t.state = finished ? r.state : 'PENDING'
        t.attempts = r.attempt
        if (r.agent !== undefined) t.agent = r.agent
        t.durationMs =
          r.startedAt !== undefined && r.finishedAt !== undefined ? Math.max(0, r.finishedAt - r.startedAt) : undefined
        t.error = finished ? r.error : undefined
      })
    }
  }

  /** Applies one event; returns true when something visible changed. */
  apply(e: RunEvent): boolean {
    switch (e.type) {
      case 'run.progress':
        this.progress = e.progress
        return true
      case 'run.succeeded':
        this.finished = 'SUCCEEDED'
        return true
      case 'run.failed':
        this.finished = 'FAILED'
        return true
      case 'run.cancelled':
        this.finished = 'CANCELLED'
        return true
      case 'task.started':
        return this.update(e.taskId, (t) => {
          t.state = 'RUNNING'
          t.agent = e.agent
          t.attempts = e.attempt
          t.startedAt = e.at
          t.fraction = undefined
          t.note = undefined
        })
      case 'task.progress':
        return this.update(e.taskId, (t) => {
          t.fraction = e.fraction
          t.note = e.note
        })
      case 'task.retrying':
        return this.update(e.taskId, (t) => {
          t.state = 'RETRYING'
          t.error = e.error
          if (t.startedAt !== undefined) t.durationMs = e.at - t.startedAt
          t.startedAt = undefined
        })
      case 'task.succeeded':
        return this.update(e.taskId, (t) => {
          t.state = 'SUCCEEDED'
          t.durationMs = e.durationMs
          t.startedAt = undefined
          t.error = undefined
        })
      case 'task.failed':
        return this.update(e.taskId, (t) => {
          t.state = 'FAILED'
          t.error = e.error
          if (t.startedAt !== undefined) t.durationMs = e.at - t.startedAt
          t.startedAt = undefined
        })
      case 'task.skipped':
        return this.update(e.taskId, (t) => {
          t.state = 'SKIPPED'
        })
      case 'task.cancelled':
        return this.update(e.taskId, (t) => {
          t.state = 'CANCELLED'
          t.startedAt = undefined
        })
      default:
        return false
    }
  }

  /** Tasks per state. */
  counts(): Record<TaskState, number> {
    const counts: Record<TaskState, number> = {
      PENDING: 0,
      READY: 0,
      RUNNING: 0,
      RETRYING: 0,
      SUCCEEDED: 0,
      FAILED: 0,
      SKIPPED: 0,
      CANCELLED: 0,
    }
    for (const t of this.tasks) counts[t.state]++
    return counts
  }

  private update(id: string, change: (t: TaskView) => void): boolean {
    const view = this.byId.get(id)
    if (view === undefined) return false
    change(view)
    return true
  }
}
