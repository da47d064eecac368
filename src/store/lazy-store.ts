import { systemClock, type Clock } from '../core/clock.js'
import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type { AgentState } from '../core/states.js'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type {
  AgentFilter,
  AgentRecord,
  AgentTransition,
  RunFilter,
  RunRecord,
  StoreBatch,
  StoredEvent,
  TailOptions,
  TailPage,
  TaskRecord,
} from './records.js'
import { CommitHooks } from './commit-hooks.js'
import { LazyQueue } from './lazy-queue.js'
import type { TaskQueue } from './queue.js'
import type { Store } from './store.js'

/** Options of {@link LazyStore}. */
export interface LazyStoreOptions {
  /** Adapter name of the store `open` gives, known before it connects (e.g. `postgres`). */
  readonly kind: string
  /**
   * Whether that store survives the process.
   * @default true
   */
  readonly durable?: boolean
  /** Where it is, for messages (a URL without its password). */
  readonly target: string
}

/**
 * A {@link Store} that opens the real one on first use: `new Orchestrator()`
 * with a `postgres://` URL (which connects asynchronously) gets one from
 * `openStore`. Every method awaits the connection, then delegates. A failed
 * connection rejects the call with `STORE_UNAVAILABLE` (or the adapter's own
 * code, like `STORE_SCHEMA_TOO_NEW`), and the next call tries again. Its
 * {@link LazyStore.queue} is the connected store's task queue, connecting the
 * same way.
 * `close()` before first use opens nothing; during the connection it waits
 * for it, then closes it. After `close()`, calls fail with `STORE_UNAVAILABLE`.
 *
 * @example
 * ```ts
 * const store = new LazyStore(() => PostgresStore.connect(url), { kind: 'postgres', target: 'postgres://db/flotilla' })
 * const orchestrator = new Orchestrator({ store }) // connects at the first run
 * ```
 */
export class LazyStore implements Store {
  readonly kind: string
  readonly durable: boolean
  private readonly target: string
  private store: Store | undefined
  private opening: Promise<Store> | undefined
  private closed = false
  private taskQueue: TaskQueue | undefined
  /** The connected store's commit observers (added before or after it connects). */
  readonly commits = new CommitHooks()

  constructor(
    private readonly open: () => Promise<Store>,
    options: LazyStoreOptions,
  ) {
    this.kind = options.kind
    this.durable = options.durable ?? true
    this.target = options.target
  }

  /** The connected store, once a call has connected it. */
  get connected(): Store | undefined {
    return this.store
  }

  commit(batch: StoreBatch): Promise<void> {
    return this.use((s) => s.commit(batch))
  }

  getRun(runId: RunId): Promise<RunRecord | undefined> {
    return this.use((s) => s.getRun(runId))
  }

  listRuns(filter?: RunFilter): Promise<RunRecord[]> {
    return this.use((s) => s.listRuns(filter))
  }

  getTasks(runId: RunId): Promise<TaskRecord[]> {
    return this.use((s) => s.getTasks(runId))
  }

  getTask(runId: RunId, taskId: TaskId): Promise<TaskRecord | undefined> {
    return this.use((s) => s.getTask(runId, taskId))
  }

  pruneRuns(finishedBefore: number): Promise<number> {
    return this.use((s) => s.pruneRuns(finishedBefore))
  }

  listEvents(runId: RunId, options?: { afterSeq?: number; limit?: number }): Promise<StoredEvent[]> {
    return this.use((s) => s.listEvents(runId, options))
  }

  tailEvents(options?: TailOptions): Promise<TailPage> {
    return this.use((s) => s.tailEvents(options))
  }

  saveAgent(
    record: AgentRecord,
    transition: { from: AgentState | null; to: AgentState; reason: string | null; at: number },
  ): Promise<void> {
    return this.use((s) => s.saveAgent(record, transition))
  }

  getAgent(id: AgentId): Promise<AgentRecord | undefined> {
    return this.use((s) => s.getAgent(id))
  }

  getSetting(key: string): Promise<unknown> {
    return this.use((s) => (s.getSetting === undefined ? Promise.resolve(undefined) : s.getSetting(key)))
  }

  putSetting(key: string, value: unknown): Promise<void> {
    return this.use((s) => {
      if (s.putSetting !== undefined) return s.putSetting(key, value)
      return Promise.reject(
        new FlotillaError('STORE_UNAVAILABLE', `The ${this.kind} store at ${this.target} keeps no settings.`),
      )
    })
  }

  listAgents(filter?: AgentFilter): Promise<AgentRecord[]> {
    return this.use((s) => s.listAgents(filter))
  }

  listAgentTransitions(agentId: AgentId): Promise<AgentTransition[]> {
    return this.use((s) => s.listAgentTransitions(agentId))
  }

  pruneAgents(before: number): Promise<number> {
    return this.use((s) => s.pruneAgents(before))
  }

  /** Closes the connected store (waiting for a connection under way); opens nothing. Later calls fail with `STORE_UNAVAILABLE`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const pending = this.opening
    this.opening = undefined
    const store = this.store ?? (pending === undefined ? undefined : await pending.catch(() => undefined))
    this.store = undefined
    await store?.close()
  }

  /**
   * The task queue of the store once connected (the same object on every
   * call; `clock` is read on the first): each of its calls connects first.
   */
  queue(clock: Clock = systemClock): TaskQueue {
    this.taskQueue ??= new LazyQueue(this.kind, () => this.ready(), clock)
    return this.taskQueue
  }

  private use<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    if (this.store !== undefined) return fn(this.store)
    return this.ready().then(fn)
  }

  /** The connected store, connecting it when needed. */
  private ready(): Promise<Store> {
    if (this.store !== undefined) return Promise.resolve(this.store)
    if (this.closed) return Promise.reject(this.closedError())
    return this.connect().then((store) => (this.closed ? Promise.reject(this.closedError()) : store))
  }

  private closedError(): FlotillaError {
    return new FlotillaError(
      'STORE_UNAVAILABLE',
      `The ${this.kind} store at ${this.target} was closed; open a new one.`,
      { details: { target: this.target }, retryable: false },
    )
  }

  private connect(): Promise<Store> {
    this.opening ??= this.open().then(
      (store) => {
        // closed while connecting: close() is waiting for this store, to close it
        if (!this.closed) {
          this.store = store
          if (store.commits !== undefined) this.commits.link(store.commits)
        }
        return store
      },
      (e: unknown) => {
        this.opening = undefined // the next call tries again
        throw isFlotillaError(e)
          ? e
          : new FlotillaError(
              'STORE_UNAVAILABLE',
              `Cannot open the ${this.kind} store at ${this.target}: ${e instanceof Error ? e.message : String(e)}.`,
              {
                details: { target: this.target },
                cause: e,
              },
            )
      },
    )
    return this.opening
  }
}
