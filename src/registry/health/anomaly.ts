import { z } from 'zod'
import { systemClock, type Clock } from '../../core/clock.js'
import { FlotillaError } from '../../core/errors.js'

/** An observation far above an agent's own baseline, given to {@link AnomalyDetector.onAnomaly} listeners. */
export interface Anomaly {
  agent: string
  /** `latency` in ms, or `errorRate`: the recent error rate in [0, 1]. */
  metric: 'latency' | 'errorRate'
  /** The value observed. */
  value: number
  /** The baseline mean before this observation. */
  mean: number
  /** The baseline standard deviation used (never below the floor, see {@link AnomalyDetectorOptions}). */
  stdDev: number
  /** `(value - mean) / stdDev`. */
  z: number
  /** Wall-clock milliseconds (the detector's clock). */
  at: number
}

/** The baseline of one metric of one agent. */
export interface AnomalyBaseline {
  mean: number
  stdDev: number
}

/** The baselines of one agent. */
export interface AgentBaseline {
  /** Observations so far. */
  observations: number
  latency: AnomalyBaseline
  errorRate: AnomalyBaseline
  /** The recent error rate (fast moving average of failures). */
  recentErrorRate: number
}

/** Options of an {@link AnomalyDetector}; every field has a default. */
export interface AnomalyDetectorOptions {
  /** Clock giving the `at` of anomalies. @default systemClock */
  clock?: Clock
  /** z-score above which an observation is an anomaly. @default 3 */
  threshold?: number
  /** Observations of an agent that only build its baseline before anything is flagged. @default 30 */
  warmup?: number
  /** Weight of a new observation in the baselines (mean and variance): about the last 2/alpha observations count. @default 0.05 */
  alpha?: number
  /** Weight of a new call in the recent error rate (a fast moving average of failures). @default 0.1 */
  errorAlpha?: number
  /**
   * Least standard deviation, as a fraction of the mean, so a steady
   * baseline does not flag ordinary jitter: with the defaults a call is
   * flagged only when it is at least 75 % slower than the mean. @default 0.25
   */
  minRelativeStdDev?: number
  /**
   * Least latency standard deviation in ms: with the defaults a call is
   * flagged only when it is at least 15 ms slower than the mean, so timer
   * and scheduling jitter of fast agents (5 ms calls taking 8–12 ms) stays
   * quiet. @default 5
   */
  minLatencyStdDevMs?: number
  /** Least error-rate standard deviation: one isolated failure is not an anomaly. @default 0.05 */
  minErrorRateStdDev?: number
}

type Resolved = Required<AnomalyDetectorOptions>

const optionsSchema = z
  .object({
    clock: z
      .custom<Clock>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { wallNow?: unknown }).wallNow === 'function',
        'clock must implement Clock',
      )
      .optional(),
    threshold: z.number().positive().optional(),
    warmup: z.number().int().min(1).optional(),
    alpha: z.number().positive().max(1).optional(),
    errorAlpha: z.number().positive().max(1).optional(),
    minRelativeStdDev: z.number().min(0).optional(),
    minLatencyStdDevMs: z.number().min(0).optional(),
    minErrorRateStdDev: z.number().min(0).optional(),
  })
  .strict()

/** Exponentially weighted mean and variance of one series. */
class EwStat {
  mean = 0
  variance = 0

  /**
   * Adds `x` with weight `alpha`; while `n` (observations including this
   * one) is below `1 / alpha` the weight is `1 / n`, so the first estimates
   * are the plain mean and variance of what was seen.
   */
  update(x: number, n: number, alpha: number): void {
    const a = Math.max(alpha, 1 / n)
    const diff = x - this.mean
    const incr = a * diff
    this.mean += incr
    this.variance = (1 - a) * (this.variance + diff * incr)
  }
}

interface AgentState {
  n: number
  latency: EwStat
  errors: EwStat
  recentErrorRate: number
}

/** What `observe` returns when nothing is anomalous (shared, no allocation). */
const NONE: readonly Anomaly[] = Object.freeze([])

/**
 * Flags an agent whose latency or error rate departs from its own recent
 * baseline.
 *
 * The statistic: for each agent and metric the detector keeps an
 * exponentially weighted moving average `μ` and variance `σ²` (weight
 * `alpha` [0.05] per observation: recent behaviour counts most, and a slow
 * drift moves the baseline along with it). Each new value `x` gets the score
 * `z = (x − μ) / max(σ, floor)` against the baseline *before* `x` is added,
 * and is flagged when `z > threshold` [3], i.e. more than three standard
 * deviations above normal. Only rises are flagged (faster or fewer errors is
 * not a problem), and nothing is flagged during the first `warmup` [30]
 * observations of an agent. The floor, `max(minRelativeStdDev × μ, absolute
 * floor)`, keeps a steady baseline from flagging jitter.
 *
 * Latency: `x` is the call's latency in ms; the floor is `max(0.25 × μ, 5 ms)`,
 * so a call is flagged only when it is at least 75 % and 15 ms slower than
 * the mean (more when the baseline itself varies more). Error rate: `x` is the recent
 * error rate, a fast moving average of failures (weight `errorAlpha` [0.1]),
 * so one isolated failure moves it by 0.1 (below the 0.05 × 3 needed on a
 * clean baseline) while a burst moves it much more.
 *
 * `observe` is O(1) and allocates only when an anomaly is emitted.
 *
 * @example
 * ```ts
 * const detector = new AnomalyDetector({ threshold: 3, warmup: 30 })
 * detector.onAnomaly((a) => console.warn(`${a.agent}: ${a.metric} ${a.value} (z=${a.z.toFixed(1)})`))
 * detector.observe('summarizer', 1200, true)
 * ```
 */
export class AnomalyDetector {
  private readonly o: Resolved
  private readonly agents = new Map<string, AgentState>()
  private readonly listeners = new Set<(anomaly: Anomaly) => void>()

  constructor(options: AnomalyDetectorOptions = {}) {
    const parsed = optionsSchema.safeParse(options)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Invalid anomaly detector option "${issue?.path.join('.')}": ${issue?.message}.`,
        {
          details: { path: issue?.path.join('.') },
        },
      )
    }
    this.o = {
      clock: options.clock ?? systemClock,
      threshold: options.threshold ?? 3,
      warmup: options.warmup ?? 30,
      alpha: options.alpha ?? 0.05,
      errorAlpha: options.errorAlpha ?? 0.1,
      minRelativeStdDev: options.minRelativeStdDev ?? 0.25,
      minLatencyStdDevMs: options.minLatencyStdDevMs ?? 5,
      minErrorRateStdDev: options.minErrorRateStdDev ?? 0.05,
    }
  }

  /**
   * Records one call of `agent`: scores it against the baselines, emits an
   * {@link Anomaly} per metric that is too high, then adds it to the
   * baselines. Returns the anomalies found (usually none). A negative or
   * non-finite latency counts as 0 ms.
   */
  observe(agent: string, latencyMs: number, ok: boolean): readonly Anomaly[] {
    let s = this.agents.get(agent)
    if (s === undefined)
      this.agents.set(agent, (s = { n: 0, latency: new EwStat(), errors: new EwStat(), recentErrorRate: 0 }))
    const latency = latencyMs >= 0 && latencyMs !== Infinity ? latencyMs : 0
    s.recentErrorRate += this.o.errorAlpha * ((ok ? 0 : 1) - s.recentErrorRate)
    let found: Anomaly[] | undefined
    if (s.n >= this.o.warmup) {
      const a = this.score(agent, 'latency', latency, s.latency, this.o.minLatencyStdDevMs)
      const b = this.score(agent, 'errorRate', s.recentErrorRate, s.errors, this.o.minErrorRateStdDev)
      if (a !== undefined || b !== undefined) found = [a, b].filter((x): x is Anomaly => x !== undefined)
    }
    s.n++
    s.latency.update(latency, s.n, this.o.alpha)
    s.errors.update(s.recentErrorRate, s.n, this.o.alpha)
    if (found === undefined) return NONE
    for (const anomaly of found) this.emit(anomaly)
    return found
  }

  /** The current baselines of `agent`, or `undefined` before its first observation. */
  baseline(agent: string): AgentBaseline | undefined {
    const s = this.agents.get(agent)
    if (s === undefined) return undefined
    return {
      observations: s.n,
      latency: { mean: s.latency.mean, stdDev: Math.sqrt(s.latency.variance) },
      errorRate: { mean: s.errors.mean, stdDev: Math.sqrt(s.errors.variance) },
      recentErrorRate: s.recentErrorRate,
    }
  }

  /** Forgets the baselines of `agent` (e.g. after deploying a new version), or of every agent. */
  reset(agent?: string): void {
    if (agent === undefined) this.agents.clear()
    else this.agents.delete(agent)
  }

  /** Calls `listener` on every anomaly; returns a function that unsubscribes. A listener that throws is ignored. */
  onAnomaly(listener: (anomaly: Anomaly) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private score(
    agent: string,
    metric: Anomaly['metric'],
    value: number,
    stat: EwStat,
    floor: number,
  ): Anomaly | undefined {
    const stdDev = Math.max(Math.sqrt(stat.variance), this.o.minRelativeStdDev * Math.abs(stat.mean), floor)
    if (stdDev === 0) return undefined
    const z = (value - stat.mean) / stdDev
    if (!(z > this.o.threshold)) return undefined
    return { agent, metric, value, mean: stat.mean, stdDev, z, at: this.o.clock.wallNow() }
  }

  private emit(anomaly: Anomaly): void {
    for (const listener of this.listeners) {
      try {
        listener(anomaly)
      } catch {
        // A listener cannot break the detector.
      }
    }
  }
}
