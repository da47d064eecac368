import { defineAgent, type AgentConfig, type AnyAgentDefinition } from '../../src/agents/define-agent.js'
import type { AgentContext } from '../../src/agents/context.js'
import type { Clock } from '../../src/core/clock.js'
import type { FlotillaEvent } from '../../src/core/events.js'
import { FlotillaError } from '../../src/core/errors.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { StoreBatch } from '../../src/store/records.js'

/** A promise with its resolve and reject exposed. */
export interface Deferred<T = void> {
  promise: Promise<T>
  resolve(value: T): void
  reject(error: unknown): void
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets pending promise callbacks, store commits and immediates run. */
export async function flush(rounds = 5): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 20; i++) await Promise.resolve()
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/**
 * Handlers that wait at a gate until the test opens it, counting how many
 * run at once.
 */
export class Gates {
  current = 0
  max = 0
  readonly started: string[] = []
  readonly finished: string[] = []
  private readonly waiting = new Map<string, Deferred<unknown>>()

  /** The handler body: enter, wait for the gate named `key`, leave. */
  async pass(key: string, value?: unknown): Promise<unknown> {
    this.current++
    if (this.current > this.max) this.max = this.current
    this.started.push(key)
    const d = deferred<unknown>()
    this.waiting.set(key, d)
    try {
      return await d.promise.then((v) => (v === undefined ? value : v))
    } finally {
      this.current--
      this.finished.push(key)
    }
  }

  /** Keys of the handlers waiting now. */
  get open(): string[] {
    return [...this.waiting.keys()]
  }

  /** Lets the handler waiting at `key` return (`value` overrides its result). */
  release(key: string, value?: unknown): void {
    const d = this.waiting.get(key)
    if (!d) throw new Error(`no handler waits at "${key}" (waiting: ${this.open.join(', ') || 'none'})`)
    this.waiting.delete(key)
    d.resolve(value)
  }

  /** Makes the handler waiting at `key` throw. */
  fail(key: string, error: unknown): void {
    const d = this.waiting.get(key)
    if (!d) throw new Error(`no handler waits at "${key}"`)
    this.waiting.delete(key)
    d.reject(error)
  }

  releaseAll(): void {
    for (const key of this.open) this.release(key)
  }

  /** Opens gates as handlers arrive until `done` settles. */
  async drive(done: Promise<unknown>, onRound?: () => void): Promise<void> {
    let finished = false
    void done.then(
      () => (finished = true),
      () => (finished = true),
    )
    for (let rounds = 0; !finished; rounds++) {
      if (rounds > 10_000) throw new Error('Gates.drive: the run does not finish')
      await flush(2)
      onRound?.()
      this.releaseAll()
    }
  }
}

/** An agent for tests; `extra` overrides any field. */
export function agent(
  name: string,
  handler: AgentConfig<unknown, unknown>['handler'],
  extra: Partial<AgentConfig<unknown, unknown>> = {},
): AnyAgentDefinition {
  return defineAgent<unknown, unknown>({ name, handler, ...extra })
}

/** A clock-based sleep (for FakeClock-driven handlers). */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clock.clearTimeout(timer)
      reject(signal.reason)
    })
  })
}

/** Types of events, in order. */
export const types = (events: readonly { type: string }[]): string[] => events.map((e) => e.type)

/** The event payloads of stored events. */
export const payloads = (stored: readonly { event: FlotillaEvent }[]): FlotillaEvent[] => stored.map((s) => s.event)

/** Races a promise against a real-time limit, so a hang fails the test instead of timing it out. */
export async function within<T>(promise: Promise<T>, ms = 2000, what = 'the promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, limit])
  } finally {
    clearTimeout(timer)
  }
}

/** A MemoryStore whose commits start failing with STORE_UNAVAILABLE after `okBatches` batches. */
export class FlakyStore extends MemoryStore {
  batches = 0
  failures = 0
  constructor(private readonly okBatches: number) {
    super()
  }

  override async commit(batch: StoreBatch): Promise<void> {
    this.commitSync(batch)
  }

  override commitSync(batch: StoreBatch): void {
    if (this.batches >= this.okBatches) {
      this.failures++
      throw new FlotillaError('STORE_UNAVAILABLE', 'The disk is gone (test).', { details: { batch: this.batches } })
    }
    this.batches++
    super.commitSync(batch)
  }
}

export type { AgentContext }
