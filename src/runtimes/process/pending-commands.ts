/**
 * The commands in flight in one agent process, by id, and the waiters for
 * none to be left. An {@link AgentProcess} holds one; each command is
 * settled once, and a late reply to a settled command is dropped.
 */
import { FlotillaError } from '../../core/errors.js'
import { abortReason, timeoutError } from '../exits.js'
import type { ExecuteOptions } from '../runtime.js'
import { encodeValue, type ParentMessage } from './protocol.js'

/** Where commands go: an agent's process or pod. */
export interface CommandChannel {
  readonly instanceId: string
  /** `agent process`, `agent pod`: named in errors. */
  readonly where: string
  /** Sends a message to the agent; throws when it cannot. */
  send(message: ParentMessage): void
}

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

  /**
   * Sends one command through `channel` and holds it until its reply settles
   * it. `options.signal` and `options.timeoutMs` cancel it (also with the
   * agent); input that cannot be sent is `AGENT_INPUT_INVALID`.
   */
  execute(input: unknown, options: ExecuteOptions, channel: CommandChannel): Promise<unknown> {
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal.reason))
    const id = this.nextId()
    return new Promise((resolve, reject) => {
      const { signal, timeoutMs } = options
      let timer: NodeJS.Timeout | undefined
      const onAbort = (): void => this.cancel(id, abortReason(signal?.reason), channel)
      this.add(id, {
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
        },
      })
      if (timeoutMs !== undefined)
        timer = setTimeout(() => this.cancel(id, timeoutError(channel.instanceId, timeoutMs), channel), timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      const message: ParentMessage = { type: 'execute', id, input: encodeValue(input) }
      if (options.runId !== undefined) message.runId = options.runId
      if (options.taskId !== undefined) message.taskId = options.taskId
      if (options.attempt !== undefined) message.attempt = options.attempt
      if (options.traceparent !== undefined) message.traceparent = options.traceparent
      try {
        channel.send(message)
      } catch (e) {
        const why = `The input cannot be sent to the ${channel.where} as JSON: ${(e as Error).message}.`
        this.settle(id, undefined, new FlotillaError('AGENT_INPUT_INVALID', why))
      }
    })
  }

  /** Rejects the command `id` with `error` and tells the agent to stop it; nothing when it is not in flight. */
  cancel(id: number, error: FlotillaError, channel: CommandChannel): void {
    if (!this.has(id)) return
    this.settle(id, undefined, error)
    try {
      channel.send({ type: 'cancel', id, reason: error.toJSON() })
    } catch {
      // the agent is gone; its exit settles the rest
    }
  }

  /** Releases whoever waits in {@link idle}. */
  wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w()
  }
}
