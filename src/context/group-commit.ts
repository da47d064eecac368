import type { StoredCacheEntry } from './backend.js'

type Write = readonly [key: string, entry: StoredCacheEntry]

/**
 * Commits the entries written during one turn of the event loop in one
 * transaction (`write` is the backend's `cachePutMany`): each `put`
 * resolves once the transaction holding its entry has committed, and
 * rejects with its error if it failed, so a put that resolved is kept just
 * as a lone write would be. Many tasks running at once then pay one commit
 * (one WAL append, one lock) per turn instead of one each.
 */
export class GroupCommit {
  private pending: Write[] = []
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = []
  private scheduled = false

  constructor(private readonly write: (entries: readonly Write[]) => Promise<void>) {}

  /** Queues `entry` under `key` for the next commit; resolves when it is committed. */
  put(key: string, entry: StoredCacheEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push([key, entry])
      this.waiters.push({ resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => void this.flush())
      }
    })
  }

  private async flush(): Promise<void> {
    const entries = this.pending
    const waiters = this.waiters
    this.pending = []
    this.waiters = []
    this.scheduled = false
    try {
      await this.write(entries)
      for (const w of waiters) w.resolve()
    } catch (e) {
      for (const w of waiters) w.reject(e)
    }
  }
}
