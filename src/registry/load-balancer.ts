/**
 * How an {@link AgentPool} chooses among its available instances:
 * - `round-robin`: the next available instance after the last one chosen;
 * - `least-loaded`: the fewest executions in flight (`active`);
 * - `performance`: the lowest {@link performanceScore}, instances whose last
 *   call failed last, near-equal scores in turn, and one pick in
 *   {@link PERFORMANCE_EXPLORE_EVERY} to the next instance in turn (see
 *   {@link selectByPerformance}).
 */
export type LoadBalancingStrategy = 'round-robin' | 'least-loaded' | 'performance'

/** Every {@link LoadBalancingStrategy}, for validation and help texts. */
export const LOAD_BALANCING_STRATEGIES: readonly LoadBalancingStrategy[] = Object.freeze([
  'round-robin',
  'least-loaded',
  'performance',
])

/**
 * What the strategies read of an instance (an `AgentInstance` fits). Kept
 * structural so that this module depends on nothing.
 */
export interface BalancedInstance {
  /** True when the instance can take an execution now. */
  readonly available: boolean
  /** Executions in flight. */
  readonly active: number
  /** Moving averages of the instance's calls. */
  readonly metrics: { readonly calls: number; readonly ewmaLatencyMs: number; readonly ewmaErrorRate: number }
  /** Failures in a row of the instance's latest calls (its circuit breaker's count; `0` after a success). */
  readonly breaker: { readonly consecutiveFailures: number }
}

/**
 * Scores within this fraction above the best count as equal for the
 * `performance` strategy: such instances take turns, so equally fast
 * instances share the work instead of timer jitter electing one.
 */
export const PERFORMANCE_TOLERANCE = 0.2

/**
 * One pick in this many of a `performance` pool (with more than one
 * instance) goes to the next available instance in turn, whatever its score:
 * an instance that was slow or failing once is measured again, and can win
 * back its share. The cost: about 1/10 of the calls are not sent to the best
 * instance.
 */
export const PERFORMANCE_EXPLORE_EVERY = 10

/**
 * The performance score of an instance; lower is better:
 *
 * `score = (ewmaLatencyMs + 1) × (1 + 10 × ewmaErrorRate) × (1 + active)`
 *
 * Latency and error rate are the instance's moving averages (alpha 0.2), so
 * the score follows recent behaviour; an error rate of 10 % doubles the
 * score; each execution in flight adds one more multiple. The `+ 1` ms keeps
 * error rate and load meaningful when latencies are near zero. An instance
 * with no calls yet scores `0`, so that it gets tried.
 *
 * @example
 * ```ts
 * performanceScore(instance) // 0 before the first call; 101 × 1 × 1 = 101 at 100 ms, no errors, idle
 * ```
 */
export function performanceScore(instance: BalancedInstance): number {
  const m = instance.metrics
  if (m.calls === 0) return 0
  return (m.ewmaLatencyMs + 1) * (1 + 10 * m.ewmaErrorRate) * (1 + instance.active)
}

/**
 * Round-robin: the index of the first `available` instance at or after
 * `cursor` (wrapping), or `-1` when none is available. The caller stores the
 * cursor (the pool sets it to the chosen index + 1).
 */
export function selectRoundRobin(instances: readonly BalancedInstance[], cursor: number): number {
  const n = instances.length
  let i = cursor >= 0 && cursor < n ? cursor : 0
  for (let k = 0; k < n; k++) {
    if (instances[i].available) return i
    i = i + 1 === n ? 0 : i + 1
  }
  return -1
}

/**
 * Least-loaded: the index of the `available` instance with the fewest
 * executions in flight, or `-1`. Ties go to the first one met scanning from
 * `cursor` (wrapping), so equal instances take turns.
 */
export function selectLeastLoaded(instances: readonly BalancedInstance[], cursor: number): number {
  const n = instances.length
  let i = cursor >= 0 && cursor < n ? cursor : 0
  let best = -1
  let bestActive = Infinity
  for (let k = 0; k < n; k++) {
    const inst = instances[i]
    if (inst.active < bestActive && inst.available) {
      best = i
      bestActive = inst.active
      if (bestActive === 0) return best
    }
    i = i + 1 === n ? 0 : i + 1
  }
  return best
}

/**
 * Performance: the index of an `available` instance with the lowest
 * {@link performanceScore}, or `-1`:
 *
 * 1. errors weigh at once: an instance whose last call failed
 *    (`breaker.consecutiveFailures > 0`) is chosen only when every available
 *    instance's last call failed, so a failing instance stops being preferred
 *    at its first failure, long before its circuit opens;
 * 2. among the others, any instance whose score is within
 *    {@link PERFORMANCE_TOLERANCE} (20 %) of the best counts as best, and the
 *    first of those met scanning from `cursor` (wrapping) is chosen: equally
 *    fast instances take turns.
 *
 * Two passes, O(instances), no allocation. {@link AgentPool} adds
 * exploration on top (see {@link PERFORMANCE_EXPLORE_EVERY}).
 */
export function selectByPerformance(instances: readonly BalancedInstance[], cursor: number): number {
  const n = instances.length
  let anyClean = false
  let best = Infinity
  let bestClean = Infinity
  for (let k = 0; k < n; k++) {
    const inst = instances[k]
    if (!inst.available) continue
    const score = performanceScore(inst)
    if (score < best) best = score
    if (inst.breaker.consecutiveFailures === 0) {
      anyClean = true
      if (score < bestClean) bestClean = score
    }
  }
  if (best === Infinity) return -1
  const limit = (anyClean ? bestClean : best) * (1 + PERFORMANCE_TOLERANCE)
  let i = cursor >= 0 && cursor < n ? cursor : 0
  for (let k = 0; k < n; k++) {
    const inst = instances[i]
    if (inst.available && (!anyClean || inst.breaker.consecutiveFailures === 0) && performanceScore(inst) <= limit)
      return i
    i = i + 1 === n ? 0 : i + 1
  }
  return -1 // unreachable: the best instance itself is within the limit
}

/**
 * Chooses an instance with `strategy`: its index in `instances`, or `-1`
 * when none is `available` (not READY, at `maxConcurrency`, or circuit
 * open). Pure apart from reading the instances; O(instances), no allocation.
 *
 * @example
 * ```ts
 * const i = selectInstance('least-loaded', pool.instances, 0)
 * if (i >= 0) console.log(pool.instances[i].id)
 * ```
 */
export function selectInstance(
  strategy: LoadBalancingStrategy,
  instances: readonly BalancedInstance[],
  cursor: number,
): number {
  switch (strategy) {
    case 'round-robin':
      return selectRoundRobin(instances, cursor)
    case 'least-loaded':
      return selectLeastLoaded(instances, cursor)
    case 'performance':
      return selectByPerformance(instances, cursor)
  }
}
