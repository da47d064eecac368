/**
 * The final writes of the runs a worker's {@link Coordinator} finishes: each
 * run's final state and event, staged when the run ends and committed
 * together at the next flush (each run on its own when one is refused), then
 * delivered and told to whoever waits for runs to end.
 *
 * @module
 */
import type { Clock } from '../core/clock.js'
import { toFlotillaError, type FlotillaError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId } from '../core/ids.js'
import type { TaskQueue } from '../store/queue.js'
import type { StoreOp } from '../store/records.js'
import type { Store } from '../store/store.js'
import type { WorkflowSpec } from './spec.js'

/** The final write of one run. */
interface FinalWrite {
  runId: RunId
  spec: Readonly<WorkflowSpec>
  ops: StoreOp[]
  event: RunEvent
  state: 'SUCCEEDED' | 'FAILED'
}

/** What {@link FinalWrites} works with. */
export interface FinalWritesParts {
  readonly store: Store
  readonly queue: TaskQueue
  readonly clock: Clock
  readonly deliver?: (events: readonly RunEvent[]) => void
  /** See `CoordinatorOptions.ended`. */
  readonly ended?: (runId: RunId, spec: Readonly<WorkflowSpec>) => void
  /** Commits one run's writes and delivers them; false when the run's write was refused (and the run let go of). */
  readonly commitRun: (ops: StoreOp[], events: RunEvent[], runId: RunId) => Promise<boolean>
}

/** Final writes staged and not yet committed. */
export class FinalWrites {
  private finals: FinalWrite[] = []

  constructor(private readonly p: FinalWritesParts) {}

  /** Whether any final write waits. */
  get empty(): boolean {
    return this.finals.length === 0
  }

  /** Ids of the runs whose final write waits. */
  runIds(): RunId[] {
    return this.finals.map((f) => f.runId)
  }

  /** Forgets the staged writes. */
  clear(): void {
    this.finals = []
  }

  /**
   * Stages the final write of run `runId` (which ran `spec`): `ops` and its
   * `run.state`, and the final event with the run's duration (from
   * `startedAt`, else read from the store).
   */
  async stage(
    runId: RunId,
    spec: Readonly<WorkflowSpec>,
    ops: StoreOp[],
    state: 'SUCCEEDED' | 'FAILED',
    error: FlotillaError | undefined,
    startedAt?: number,
  ): Promise<void> {
    const at = this.p.clock.wallNow()
    const started = startedAt ?? (await this.p.store.getRun(runId))?.startedAt
    const durationMs = Math.max(0, at - (started ?? at))
    const json = error?.toJSON()
    ops.push({ op: 'run.state', runId, state, at, ...(json === undefined ? {} : { error: json }) })
    const event: RunEvent =
      state === 'SUCCEEDED'
        ? { type: 'run.succeeded', at, runId, durationMs }
        : { type: 'run.failed', at, runId, durationMs, error: json! }
    this.finals.push({ runId, spec, ops, event, state })
  }

  /** Commits the staged writes together; when one run's write is refused, each run again on its own. */
  async flush(): Promise<void> {
    const finals = this.finals
    this.finals = []
    let stored = finals
    try {
      await this.p.store.commit({ ops: finals.flatMap((f) => f.ops), events: finals.map((f) => f.event) })
      this.p.deliver?.(finals.map((f) => f.event))
    } catch (e) {
      if (toFlotillaError(e).code !== 'STORE_CONFLICT') {
        this.finals.unshift(...finals) // not written: kept, so that reset() lets go of these runs too
        throw e
      }
      stored = []
      for (const f of finals) if (await this.p.commitRun(f.ops, [f.event], f.runId)) stored.push(f)
    }
    const ended = this.p.ended
    if (ended !== undefined) for (const f of stored) ended(f.runId, f.spec)
    // A failed run may leave offers of cancelled tasks behind; a succeeded one has none.
    for (const f of stored) if (f.state !== 'SUCCEEDED') await this.p.queue.dropRun(f.runId)
  }
}
