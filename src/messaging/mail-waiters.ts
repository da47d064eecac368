import type { Clock, TimerHandle } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { WaitForMailOptions } from './bus.js'
import { checkAgentName, checkPositive } from './validate.js'

interface Waiter {
  readonly agent: string
  readonly resolve: (ready: boolean) => void
  readonly reject: (error: unknown) => void
  timers: TimerHandle[]
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  settled: boolean
}

/**
 * How long until `agent`'s mailbox holds a receivable message: `0` (or less)
 * when one is receivable now, a delay in ms when the earliest lease ends,
 * `undefined` when the mailbox is empty.
 */
export type MailProbe = (agent: string) => Promise<number | undefined>

/**
 * The waiting side of `Bus.waitForMail`, shared by the adapters: a waiter
 * registers first, then the adapter's probe says whether mail is already
 * there or when a lease ends; `wake(agent)` (on send, ack, replay, or a
 * NOTIFY from another process) settles the waiters of that mailbox. Timers
 * run on the injected clock.
 */
export class MailWaiters {
  private readonly byAgent = new Map<string, Set<Waiter>>()
  private closed = false

  constructor(
    private readonly clock: Clock,
    private readonly probe: MailProbe,
  ) {}

  /**
   * Resolves `true` when mail may be receivable, `false` when `timeoutMs`
   * passes, the signal aborts or the bus closes first.
   *
   * @throws FlotillaError `VALIDATION_FAILED` for a bad agent name or timeout.
   */
  wait(agent: string, options: WaitForMailOptions = {}): Promise<boolean> {
    checkAgentName(agent, 'agent')
    const timeoutMs = options.timeoutMs === undefined ? undefined : checkPositive(options.timeoutMs, 'timeoutMs')
    const signal = options.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new FlotillaError('VALIDATION_FAILED', 'signal must be an AbortSignal.', { details: { field: 'signal' } })
    }
    if (this.closed || signal?.aborted) return Promise.resolve(false)
    return new Promise<boolean>((resolve, reject) => {
      const w: Waiter = { agent, resolve, reject, timers: [], signal, onAbort: undefined, settled: false }
      let set = this.byAgent.get(agent)
      if (set === undefined) this.byAgent.set(agent, (set = new Set()))
      set.add(w)
      if (timeoutMs !== undefined) w.timers.push(this.clock.setTimeout(() => this.settle(w, false), timeoutMs))
      if (signal !== undefined) {
        w.onAbort = () => this.settle(w, false)
        signal.addEventListener('abort', w.onAbort, { once: true })
      }
      // Registered before probing: mail that lands while the probe runs wakes this waiter.
      this.probe(agent).then(
        (delay) => {
          if (w.settled || delay === undefined) return
          if (delay <= 0) this.settle(w, true)
          else w.timers.push(this.clock.setTimeout(() => this.settle(w, true), delay))
        },
        (err: unknown) => this.settle(w, false, { error: err }),
      )
    })
  }

  /** Settles the waiters of `agent` with `true`. */
  wake(agent: string): void {
    const set = this.byAgent.get(agent)
    if (set === undefined) return
    for (const w of [...set]) this.settle(w, true)
  }

  /** Settles every waiter with `true` (after a missed-notification gap). */
  wakeAll(): void {
    for (const agent of [...this.byAgent.keys()]) this.wake(agent)
  }

  /** Whether anyone waits on `agent`'s mailbox. */
  has(agent: string): boolean {
    return this.byAgent.has(agent)
  }

  /** Settles every waiter with `false` and refuses new waits (they resolve `false`). */
  close(): void {
    this.closed = true
    for (const set of [...this.byAgent.values()]) for (const w of [...set]) this.settle(w, false)
  }

  private settle(w: Waiter, ready: boolean, failure?: { readonly error: unknown }): void {
    if (w.settled) return
    w.settled = true
    for (const t of w.timers) this.clock.clearTimeout(t)
    if (w.signal !== undefined && w.onAbort !== undefined) w.signal.removeEventListener('abort', w.onAbort)
    const set = this.byAgent.get(w.agent)
    if (set !== undefined) {
      set.delete(w)
      if (set.size === 0) this.byAgent.delete(w.agent)
    }
    if (failure === undefined) w.resolve(ready)
    else w.reject(failure.error)
  }
}
