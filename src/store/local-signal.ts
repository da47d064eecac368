/**
 * A wake-up signal within one process: {@link LocalSignal.wait} resolves on
 * the next {@link LocalSignal.notify}, after `ms`, or when `signal` aborts,
 * whichever comes first. A notify with nobody waiting is remembered once, so
 * a wake-up between two waits is not lost.
 */
export class LocalSignal {
  private waiters = new Set<() => void>()
  private pending = false

  /** Wakes every waiter (or the next one to wait). */
  notify(): void {
    if (this.waiters.size === 0) {
      this.pending = true
      return
    }
    const waiters = this.waiters
    this.waiters = new Set()
    for (const wake of waiters) wake()
  }

  /** Resolves on a notify, after `ms`, or on abort; never rejects. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.pending || signal?.aborted === true) {
      this.pending = false
      return Promise.resolve()
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        this.waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      signal?.addEventListener('abort', done, { once: true })
      this.waiters.add(done)
    })
  }
}
