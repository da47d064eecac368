/**
 * The commands in flight in one agent process, by id, and the waiters for
 * none to be left. An {@link AgentProcess} holds one; each command is
 * settled once, and a late reply to a settled command is dropped.
 */
import type { FlotillaError } from '../../core/errors.js'

/** One command in flight: how to settle it, and what to clear (timer, abort listener) once it is settled. */
export interface PendingCommand {
  resolve(value: unknown): void
  reject(error: FlotillaError): void
  cleanup(): void
}

/** The commands in flight in one agent process. */
export class PendingCommands {
  private readonly pending = new Map<number, PendingCommand>()
  private readonly idleWaiters: (() => void)[] = []
  private seq = 0

  /** How many commands are in flight. */
  get size(): number {
    return this.pending.size
  }

  /** The id of a new command. */
  nextId(): number {
    return ++this.seq
  }

  /** True while the command `id` is in flight. */
  has(id: number): boolean {
    return this.pending.has(id)
  }

  /** Holds the command `id` until it is settled. */
  add(id: number, command: PendingCommand): void {
    this.pending.set(id, command)
  }

  /** Resolves the command `id` with `value`, or rejects it with `error`; nothing when it is not in flight. */
  settle(id: number, value: unknown, error: FlotillaError | undefined): void {
    const p = this.pending.get(id)
    if (p === undefined) return // late reply to a cancelled command
    this.pending.delete(id)
    p.cleanup()
    if (error === undefined) p.resolve(value)
    else p.reject(error)
    if (this.pending.size === 0) this.wakeIdle()
  }

  /** Rejects every command in flight with `error`. */
  rejectAll(error: FlotillaError): void {
    for (const id of [...this.pending.keys()]) this.settle(id, undefined, error)
  }

  /** Resolves once no command is in flight (or {@link wakeIdle} is called). */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Releases whoever waits in {@link idle}. */
  wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w()
  }
}
