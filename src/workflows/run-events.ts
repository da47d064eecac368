import type { RunEvent } from '../core/events.js'
import { asTaskId, type AgentId, type RunId, type TaskId } from '../core/ids.js'
import type { LogLevel, StoredTaskSpend } from '../agents/context.js'
import type { Journal, ServiceMembers } from '../agents/service-members.js'
import type { RunExecution } from './run-execution.js'
import type { EngineOptions } from './scheduler.js'
import { storedSpendOf, type ContextSink } from './task-context.js'
import type { WriteAhead } from './write-ahead.js'

/**
 * The events a run reports besides its transitions: what task contexts send
 * (logs, task progress, model calls, budget warnings) and the throttled
 * `run.progress` reports. Every event is staged with the run's other writes,
 * so it is delivered once the batch it belongs to is stored.
 */
export class RunEvents implements ContextSink {
  constructor(
    private readonly o: EngineOptions,
    private readonly wal: WriteAhead<RunExecution>,
    private readonly runs: ReadonlyMap<RunId, RunExecution>,
  ) {}

  /** Reports the run's progress as of `now` (monotonic): to its `onProgress` callback and as a `run.progress` event. */
  runProgress(run: RunExecution, now: number): void {
    run.lastProgressAt = now
    const progress = run.progress(this.o.clock)
    run.callbacks.onProgress?.(progress)
    this.wal.stage(
      run,
      undefined,
      { type: 'run.progress', at: this.o.clock.wallNow(), runId: run.id, progress },
      undefined,
    )
  }

  // ---- context sink -----------------------------------------------------
  log(runId: RunId, taskId: TaskId, level: LogLevel, message: string, data: unknown): void {
    const run = this.runs.get(runId)
    if (run)
      this.wal.stage(
        run,
        undefined,
        {
          type: 'task.log',
          at: this.o.clock.wallNow(),
          runId,
          taskId,
          level,
          message,
          ...(data === undefined ? {} : { data }),
        },
        undefined,
      )
  }

  emit(event: RunEvent): void {
    const run = this.runs.get(event.runId)
    if (run === undefined) return
    event.at = this.o.clock.wallNow()
    if (event.type === 'model.called') {
      ;(run.modelCalls ??= []).push(event)
      const i = run.workflow.indexOf.get(event.taskId)
      if (i !== undefined) run.addModelCall(i, event.attempt, event)
    }
    this.wal.stage(run, undefined, event, undefined)
  }

  services(instanceId: AgentId, runId: RunId, taskId: TaskId): ServiceMembers | undefined {
    return this.o.services?.(instanceId, runId, taskId)
  }

  journal(instanceId: AgentId): Journal | undefined {
    return this.o.journal?.(instanceId)
  }

  storedModelSpend(runId: RunId): Promise<StoredTaskSpend[]> {
    return storedSpendOf(this.o.store, runId)
  }

  progress(runId: RunId, taskId: TaskId, attempt: number, fraction: number, note: string | undefined): void {
    const run = this.runs.get(runId)
    if (run)
      this.wal.stage(
        run,
        undefined,
        { type: 'task.progress', at: this.o.clock.wallNow(), runId, taskId: asTaskId(taskId), attempt, fraction, note },
        undefined,
      )
  }
}
