import type { StoreBatch } from './records.js'

/** One commit of a durable store, as {@link CommitHooks} observers see it. */
export interface CommitInfo {
  /** The database: `sqlite` or `postgresql` (OpenTelemetry's `db.system.name`). */
  readonly system: 'sqlite' | 'postgresql'
  /**
   * `commit`: a batch of state changes and events (`Store.commit`, the
   * engine's group commit); `complete`: results of claimed attempts
   * (`TaskQueue.complete`; on PostgreSQL several workers' results go in one
   * statement, a group commit).
   */
  readonly operation: 'commit' | 'complete'
  /** Writes in the batch (one per result for `complete`). */
  readonly ops: number
  /** Events appended with it. */
  readonly events: number
  /** The distinct runs it writes to. */
  readonly runIds: readonly string[]
}

/** Called as a commit starts; returns the function to call as it ends (with its error when it failed). */
export type CommitObserver = (commit: CommitInfo) => (error?: unknown) => void

const done = (): void => undefined

/** The {@link CommitInfo} of `TaskQueue.complete` storing the results of `claims` (one, or a PostgreSQL group). */
export function completeInfo(
  system: CommitInfo['system'],
  claims: readonly { readonly runId: string }[],
  events: number,
): CommitInfo {
  return { system, operation: 'complete', ops: claims.length, events, runIds: [...new Set(claims.map((c) => c.runId))] }
}

/**
 * Who watches a store's commits (the spans of a traced `Orchestrator`,
 * `Worker` or `Client`). With no observer, {@link CommitHooks.active} is
 * false and the store's commit path does nothing more than read it.
 *
 * @example
 * ```ts
 * const stop = store.commits?.add((c) => {
 *   const t = performance.now()
 *   return (error) => console.log(c.operation, c.ops, performance.now() - t, error === undefined)
 * })
 * ```
 */
export class CommitHooks {
  private observers: CommitObserver[] = []
  private readonly linked: CommitHooks[] = []
  /** True while an observer is added: the store reports its commits. */
  active = false

  /** Adds an observer; returns the function that removes it. */
  add(observer: CommitObserver): () => void {
    this.observers = [...this.observers, observer]
    this.active = true
    for (const l of this.linked) l.add(observer)
    return () => this.remove(observer)
  }

  /** Removes an observer (here and in the linked hooks). */
  remove(observer: CommitObserver): void {
    this.observers = this.observers.filter((o) => o !== observer)
    this.active = this.observers.length > 0
    for (const l of this.linked) l.remove(observer)
  }

  /** Passes every observer, present and to come, on to `target` (a lazily opened store's real one). */
  link(target: CommitHooks): void {
    this.linked.push(target)
    for (const o of this.observers) target.add(o)
  }

  /** Reports a commit starting; call what it returns when it ends. */
  start(commit: CommitInfo): (error?: unknown) => void {
    const observers = this.observers
    if (observers.length === 0) return done
    if (observers.length === 1) return observers[0](commit)
    const ends = observers.map((o) => o(commit))
    return (error) => {
      for (const end of ends) end(error)
    }
  }

  /** Reports a commit of `batch` starting (see {@link CommitHooks.start}). */
  startBatch(system: CommitInfo['system'], batch: StoreBatch): (error?: unknown) => void {
    const runIds = new Set<string>()
    for (const op of batch.ops) runIds.add(op.op === 'run.create' ? op.run.id : op.runId)
    for (const e of batch.events) runIds.add(e.runId)
    return this.start({
      system,
      operation: 'commit',
      ops: batch.ops.length,
      events: batch.events.length,
      runIds: [...runIds],
    })
  }
}
