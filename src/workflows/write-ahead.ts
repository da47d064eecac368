import type { RunEvent } from '../core/events.js'
import type { StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'

/** Node's queueMicrotask makes an AsyncResource per call; a resolved promise's `then` is much cheaper. */
const RESOLVED = Promise.resolve()

/**
 * Group commit for write-ahead durability: every state change is staged with
 * the action that depends on it; all changes staged in one tick are written
 * in a single `store.commit`, and only then are their actions run and their
 * events delivered. One commit is in flight at a time, so batches are stored
 * in order.
 */
export class WriteAhead<R extends { readonly id: string }> {
  private ops: StoreOp[] = []
  private events: RunEvent[] = []
  private afters: (() => void)[] = []
  /** The run of each action in `afters` (to split a refused batch by run). */
  private afterRuns: R[] = []
  private runs: R[] = []
  private scheduled = false
  private committing = false

  constructor(
    private readonly store: Store,
    private readonly deliver: (events: readonly RunEvent[]) => void,
    private readonly onBatchDone: () => void,
    private readonly onCommitFailed: (error: unknown, runs: ReadonlySet<R>, refused: readonly StoreOp[]) => void,
  ) {}

  /** Stages a write (and its event) and the action to run once it is stored. */
  stage(run: R, op: StoreOp | undefined, event: RunEvent | undefined, after: (() => void) | undefined): void {
    if (op !== undefined) this.ops.push(op)
    if (event !== undefined) this.events.push(event)
    if (after !== undefined) {
      this.afters.push(after)
      this.afterRuns.push(run)
    }
    this.runs.push(run)
    if (!this.scheduled && !this.committing) {
      this.scheduled = true
      void RESOLVED.then(this.flush)
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false
    if (this.committing || this.runs.length === 0) return
    const ops = this.ops,
      events = this.events,
      afters = this.afters,
      afterRuns = this.afterRuns,
      runs = this.runs
    this.ops = []
    this.events = []
    this.afters = []
    this.afterRuns = []
    this.runs = []
    const batch = { ops, events }
    if (this.store.commitSync !== undefined) {
      try {
        this.store.commitSync(batch)
      } catch (error) {
        return this.failed(error, runs, ops, events, afters, afterRuns)
      }
      return this.done(afters, events)
    }
    this.committing = true
    this.store.commit(batch).then(
      () => {
        this.committing = false
        this.done(afters, events)
      },
      (error: unknown) => {
        this.committing = false
        this.failed(error, runs, ops, events, afters, afterRuns)
      },
    )
  }

  private done(afters: (() => void)[], events: RunEvent[]): void {
    for (let i = 0; i < afters.length; i++) afters[i]()
    if (events.length > 0) this.deliver(events)
    this.onBatchDone()
    this.kick()
  }

  /**
   * A refused batch of several runs is written again run by run, so that a
   * conflict of one run (paused or cancelled by another process, a stale
   * attempt) never stops another: only the runs whose own writes are refused
   * fail.
   */
  private failed(
    error: unknown,
    runs: R[],
    ops: StoreOp[],
    events: RunEvent[],
    afters: (() => void)[],
    afterRuns: R[],
  ): void {
    const distinct = new Set(runs)
    if (distinct.size <= 1) {
      this.onCommitFailed(error, distinct, ops)
      return this.kick()
    }
    this.committing = true
    void this.splitByRun(distinct, ops, events, afters, afterRuns).finally(() => {
      this.committing = false
      this.onBatchDone()
      this.kick()
    })
  }

  private async splitByRun(
    runs: Set<R>,
    ops: StoreOp[],
    events: RunEvent[],
    afters: (() => void)[],
    afterRuns: R[],
  ): Promise<void> {
    const runIdOf = (op: StoreOp): string => (op.op === 'run.create' ? op.run.id : op.runId)
    for (const run of runs) {
      const batch = {
        ops: ops.filter((op) => runIdOf(op) === run.id),
        events: events.filter((e) => e.runId === run.id),
      }
      try {
        if (this.store.commitSync !== undefined) this.store.commitSync(batch)
        else await this.store.commit(batch)
      } catch (error) {
        this.onCommitFailed(error, new Set([run]), batch.ops)
        continue
      }
      for (let i = 0; i < afters.length; i++) if (afterRuns[i] === run) afters[i]()
      if (batch.events.length > 0) this.deliver(batch.events)
    }
  }

  /** Resolves once nothing is staged or being written. */
  async drain(): Promise<void> {
    while (this.runs.length > 0 || this.committing || this.scheduled)
      await new Promise<void>((resolve) => setImmediate(resolve))
  }

  private kick(): void {
    if (this.runs.length > 0 && !this.scheduled) {
      this.scheduled = true
      void RESOLVED.then(this.flush)
    }
  }
}
