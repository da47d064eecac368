import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { RunId, TaskId } from '../core/ids.js'
import type {
  HeartbeatReport,
  QueueClaim,
  QueueDone,
  QueueOffer,
  QueueResult,
  QueueSelector,
  QueueWaiting,
  RunLease,
  TaskQueue,
  WorkerRecord,
} from './queue.js'
import type { Store } from './store.js'

type AttemptRef = { runId: RunId; taskId: TaskId; attempt: number }

/**
 * The {@link TaskQueue} of a store that connects on first use (see
 * `LazyStore`): each call awaits the connection, then delegates to the
 * connected store's queue (opened with `clock`). A failed connection rejects
 * the call like the store's own calls; `wait` never rejects (it waits `ms`).
 * Internal: made by `LazyStore.queue`.
 */
export class LazyQueue implements TaskQueue {
  private inner: TaskQueue | undefined

  constructor(
    readonly kind: string,
    private readonly connect: () => Promise<Store>,
    private readonly clock: Clock,
  ) {}

  offer(offers: readonly QueueOffer[]): Promise<void> {
    return this.use((q) => q.offer(offers))
  }

  claim(worker: string, selectors: readonly QueueSelector[], max: number, leaseMs: number): Promise<QueueClaim[]> {
    return this.use((q) => q.claim(worker, selectors, max, leaseMs))
  }

  heartbeat(worker: string, claims: readonly AttemptRef[], leaseMs: number): Promise<HeartbeatReport> {
    return this.use((q) => q.heartbeat(worker, claims, leaseMs))
  }

  complete(worker: string, claim: AttemptRef, result: QueueResult, events?: readonly RunEvent[]): Promise<void> {
    return this.use((q) => q.complete(worker, claim, result, events))
  }

  release(worker: string, claims: readonly AttemptRef[]): Promise<void> {
    return this.use((q) => q.release(worker, claims))
  }

  takeResults(coordinator: string, max: number): Promise<QueueDone[]> {
    return this.use((q) => q.takeResults(coordinator, max))
  }

  dropRun(runId: RunId): Promise<void> {
    return this.use((q) => q.dropRun(runId))
  }

  claimRuns(coordinator: string, max: number, leaseMs: number, only?: readonly RunId[]): Promise<RunLease[]> {
    return this.use((q) => q.claimRuns(coordinator, max, leaseMs, only))
  }

  renewRuns(coordinator: string, runIds: readonly RunId[], leaseMs: number): Promise<RunLease[]> {
    return this.use((q) => q.renewRuns(coordinator, runIds, leaseMs))
  }

  releaseRuns(coordinator: string, runIds: readonly RunId[]): Promise<void> {
    return this.use((q) => q.releaseRuns(coordinator, runIds))
  }

  runHolder(runId: RunId): Promise<{ holder: string | undefined; leaseUntil: number }> {
    return this.use((q) => q.runHolder(runId))
  }

  advertise(worker: WorkerRecord): Promise<void> {
    return this.use((q) => q.advertise(worker))
  }

  retire(workerId: string): Promise<void> {
    return this.use((q) => q.retire(workerId))
  }

  listWorkers(since: number): Promise<WorkerRecord[]> {
    return this.use((q) => q.listWorkers(since))
  }

  storeTime(): Promise<number | undefined> {
    return this.use((q) => q.storeTime())
  }

  waiting(selectors: readonly QueueSelector[]): Promise<QueueWaiting[]> {
    return this.use((q) => q.waiting(selectors))
  }

  notify(): Promise<void> {
    return this.use((q) => q.notify())
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return this.use((q) => q.wait(ms, signal)).catch(() => this.sleep(ms, signal))
  }

  private use<T>(fn: (queue: TaskQueue) => Promise<T>): Promise<T> {
    if (this.inner !== undefined) return fn(this.inner)
    return this.connect().then((store) => {
      if (store.queue === undefined)
        throw new FlotillaError('STORE_UNAVAILABLE', `The ${store.kind} store has no task queue.`, { retryable: false })
      this.inner ??= store.queue(this.clock)
      return fn(this.inner)
    })
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve()
      const done = (): void => {
        this.clock.clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = this.clock.setTimeout(done, ms)
      signal?.addEventListener('abort', done, { once: true })
    })
  }
}
