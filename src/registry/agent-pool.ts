import { FlotillaError } from '../core/errors.js'
import type { AgentInstance } from './agent-instance.js'
import {
  PERFORMANCE_EXPLORE_EVERY,
  selectInstance,
  selectRoundRobin,
  type LoadBalancingStrategy,
} from './load-balancer.js'

/**
 * What a task asks for: an agent by name (the latest version when `version`
 * is omitted), or any agent offering a capability.
 */
export type AgentSelector = { agent: string; version?: string } | { capability: string }

/**
 * The result of {@link AgentPool.acquire}: an instance (now counted as
 * active), or why none could be taken:
 * - `'busy'`: some READY instance has a closed or half-open circuit but all
 *   such are at `maxConcurrency` (or the half-open probe is out); retry when
 *   an execution is released;
 * - `'open'`: every READY instance has an open circuit; retry after the cooldown;
 * - `'none'`: no instance is READY (none registered, or all failed or stopped).
 */
export type AcquireResult = AgentInstance | 'busy' | 'open' | 'none'

/**
 * The pool key of a selector: `agent:NAME@VERSION`, `agent:NAME` (latest
 * version) or `capability:CAP`.
 *
 * @example
 * ```ts
 * poolKey({ agent: 'scanner', version: '1.0.0' }) // 'agent:scanner@1.0.0'
 * ```
 */
export function poolKey(selector: AgentSelector): string {
  if ('capability' in selector) return `capability:${selector.capability}`
  return selector.version === undefined ? `agent:${selector.agent}` : `agent:${selector.agent}@${selector.version}`
}

/**
 * Returns a clean copy of `selector` when it is well formed
 * (`{ agent, version? }` or `{ capability }` with non-empty strings); throws
 * `VALIDATION_FAILED` otherwise. For selectors coming from files, HTTP or
 * user code.
 *
 * @example
 * ```ts
 * checkSelector({ capability: 'fix' }) // { capability: 'fix' }
 * ```
 */
export function checkSelector(selector: unknown): AgentSelector {
  const s = selector as Record<string, unknown> | null
  const ok =
    typeof s === 'object' &&
    s !== null &&
    (typeof s.capability === 'string'
      ? s.capability.length > 0
      : typeof s.agent === 'string' && s.agent.length > 0 && (s.version === undefined || typeof s.version === 'string'))
  if (!ok) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      'A pool selector is { agent: "name", version?: "1.2.0" } or { capability: "name" }, with non-empty strings.',
    )
  }
  const v = s as { agent?: string; version?: string; capability?: string }
  if (typeof v.capability === 'string') return { capability: v.capability }
  return v.version === undefined ? { agent: v.agent as string } : { agent: v.agent as string, version: v.version }
}

/**
 * The instances that can serve one selector, and the place executions are
 * taken from and given back. The {@link Registry} creates one pool per
 * selector and keeps its `instances` current as agents register and
 * unregister. `acquire` is O(instances) and allocates nothing, with a fast
 * path for a single instance.
 *
 * @example
 * ```ts
 * const pool = registry.pool({ capability: 'fix' })
 * const got = pool.acquire()
 * if (typeof got !== 'string') {
 *   const started = clock.now()
 *   try { await run(got); pool.release(got, clock.now() - started, true) }
 *   catch (err) { pool.release(got, clock.now() - started, false, String(err)) }
 * }
 * ```
 */
export class AgentPool {
  /** The selector's key, e.g. `agent:scanner@1.0.0` or `capability:fix`. */
  readonly key: string
  /** The selector this pool serves. */
  readonly selector: AgentSelector
  /** The member instances, in order of registration. Do not mutate: the registry keeps it. */
  readonly instances: AgentInstance[] = []
  /** How instances are chosen. */
  strategy: LoadBalancingStrategy
  private cursor = 0
  /** Picks since the last exploration (`performance` only). */
  private sinceExplore = 0
  /** Where the next exploration starts (`performance` only). */
  private exploreCursor = 0
  private _pins = 0
  /**
   * Called when the last pin is released (the registry sets it while the
   * pool is draining a retired version).
   * @internal
   */
  onUnpinned: (() => void) | undefined = undefined

  constructor(selector: AgentSelector, strategy: LoadBalancingStrategy = 'round-robin') {
    this.selector = selector
    this.key = poolKey(selector)
    this.strategy = strategy
  }

  /**
   * Takes an instance for one execution: chooses one with the strategy
   * (with `performance`, one pick in {@link PERFORMANCE_EXPLORE_EVERY} goes
   * to the next other instance in turn instead, so every instance keeps being
   * measured), takes its circuit-breaker permission and counts it as active. Pair every
   * success with exactly one {@link AgentPool.release} or
   * {@link AgentPool.abandon}. Returns `'busy'`, `'open'` or `'none'` when no
   * instance can be taken (see {@link AcquireResult}).
   */
  acquire(): AcquireResult {
    const list = this.instances
    const n = list.length
    if (n === 1) {
      const only = list[0]
      if (only.available && only.breaker.tryAcquire()) {
        only.active++
        return only
      }
      return this.why()
    }
    if (n === 0) return 'none'
    const explore = this.strategy === 'performance' && this.sinceExplore + 1 >= PERFORMANCE_EXPLORE_EVERY
    const best = selectInstance(this.strategy, list, this.cursor)
    const i = explore ? this.explore(best) : best
    if (i < 0) return this.why()
    const chosen = list[i]
    if (!chosen.breaker.tryAcquire()) return this.why()
    chosen.active++
    const next = i + 1 === n ? 0 : i + 1
    if (explore) {
      this.sinceExplore = 0
      this.exploreCursor = next
    } else {
      this.sinceExplore++
      this.cursor = next
    }
    return chosen
  }

  /**
   * Gives back an instance after an execution: one less active, the call
   * recorded in its metrics (with `errorMessage` as its last error when
   * given), and the outcome reported to its circuit breaker. Works for an
   * instance removed from the pool while the execution ran.
   */
  release(instance: AgentInstance, latencyMs: number, ok: boolean, errorMessage?: string): void {
    if (instance.active > 0) instance.active--
    instance.metrics.record(latencyMs, ok)
    if (ok) {
      instance.breaker.onSuccess()
    } else {
      if (errorMessage !== undefined) instance.metrics.recordError(errorMessage)
      instance.breaker.onFailure()
    }
  }

  /**
   * Gives back an instance after a cancelled execution: one less active, the
   * half-open probe slot (if it held it) freed, nothing recorded.
   */
  abandon(instance: AgentInstance): void {
    if (instance.active > 0) instance.active--
    instance.breaker.onAbandon()
  }

  /**
   * Pins the pool for as long as a user (a run) may still take work from
   * it: while pinned, a version that is retired gently
   * (`registry.unregister(name, version, { drain: true })`, a hot reload)
   * keeps serving through this pool, and is retired when the last pin is
   * released. Returns the release function (calling it again does nothing).
   *
   * @example
   * ```ts
   * const unpin = pool.pin() // when the run starts
   * // … the run's tasks acquire and release …
   * unpin() // when the run ends
   * ```
   */
  pin(): () => void {
    this._pins++
    let released = false
    return () => {
      if (released) return
      released = true
      if (--this._pins === 0) this.onUnpinned?.()
    }
  }

  /** Pins held now (see {@link AgentPool.pin}). */
  get pins(): number {
    return this._pins
  }

  /** True when some member instance could be taken now. */
  get hasAvailable(): boolean {
    const list = this.instances
    for (let i = 0; i < list.length; i++) if (list[i].available) return true
    return false
  }

  /**
   * Adds an instance to the pool (the registry calls this).
   * @internal
   */
  add(instance: AgentInstance): void {
    if (instance.pools.has(this)) return
    this.instances.push(instance)
    instance.pools.add(this)
  }

  /**
   * Removes an instance from the pool (the registry calls this).
   * @internal
   */
  remove(instance: AgentInstance): void {
    instance.pools.delete(this)
    const i = this.instances.indexOf(instance)
    if (i < 0) return
    this.instances.splice(i, 1)
    if (this.cursor > i) this.cursor--
    if (this.exploreCursor > i) this.exploreCursor--
  }

  /**
   * Removes every instance (the registry calls this before refilling a
   * latest-version pool).
   * @internal
   */
  clear(): void {
    for (const inst of this.instances) inst.pools.delete(this)
    this.instances.length = 0
    this.cursor = 0
    this.exploreCursor = 0
    this.sinceExplore = 0
  }

  /** The next available instance in turn from the exploration cursor, skipping `best` when another is available. */
  private explore(best: number): number {
    const list = this.instances
    const i = selectRoundRobin(list, this.exploreCursor)
    if (i !== best || i < 0) return i
    const other = selectRoundRobin(list, i + 1 === list.length ? 0 : i + 1)
    return other < 0 ? i : other
  }

  /** Why no instance could be taken: one pass over the members. */
  private why(): 'busy' | 'open' | 'none' {
    const list = this.instances
    let ready = false
    for (let i = 0; i < list.length; i++) {
      const inst = list[i]
      // An instance routed around by the health monitor (FAILED, RECOVERING) cannot take work.
      if (inst.state !== 'READY' || !inst.routable) continue
      if (inst.breaker.state !== 'OPEN') return 'busy'
      ready = true
    }
    return ready ? 'open' : 'none'
  }
}

/**
 * Pins every distinct pool of a run once (see {@link AgentPool.pin}) and
 * returns one function releasing them all; calling it again does nothing.
 *
 * @example
 * ```ts
 * const unpin = pinPools(run.pools) // at run start
 * unpin() // when the run settles
 * ```
 */
export function pinPools(pools: readonly AgentPool[]): () => void {
  const releases = [...new Set(pools)].map((pool) => pool.pin())
  return () => {
    for (const release of releases) release()
  }
}
