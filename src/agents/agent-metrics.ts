/** Latencies kept for percentiles: the most recent calls, in a fixed ring. */
const WINDOW = 1024

/** Weight of the newest sample in the moving averages. */
const ALPHA = 0.2

/** A JSON-safe view of an {@link AgentMetrics} at one moment. */
export interface AgentMetricsSnapshot {
  /** Calls recorded since the instance started. */
  calls: number
  /** Calls that failed. */
  errors: number
  /** `(calls - errors) / calls`; `1` when there were no calls. */
  successRate: number
  /** Mean latency over every call recorded, in ms; `0` when there were no calls. */
  meanLatencyMs: number
  /** 95th percentile latency (nearest rank) over the last 1024 calls, in ms; `0` when there were no calls. */
  p95LatencyMs: number
  /** Exponentially weighted moving average of latency (alpha 0.2), in ms. */
  ewmaLatencyMs: number
  /** Exponentially weighted moving average of the error rate (alpha 0.2), in [0, 1]. */
  ewmaErrorRate: number
  /** Text of the last error given to {@link AgentMetrics.recordError}, if any. */
  lastError?: string
}

/**
 * Call statistics of one agent instance. {@link AgentMetrics.record} is on
 * the hot path of every execution: it is O(1) and allocates nothing (plain
 * counters, moving averages, and a fixed ring of the last 1024 latencies in a
 * `Float64Array`). Percentiles are computed only by
 * {@link AgentMetrics.snapshot}.
 *
 * The latency average starts at the first sample; the error-rate average
 * starts at 0 (an instance is presumed healthy until it fails).
 *
 * @example
 * ```ts
 * const metrics = new AgentMetrics()
 * metrics.record(120, true)
 * metrics.record(80, false)
 * metrics.recordError('upstream returned 503')
 * metrics.snapshot() // { calls: 2, errors: 1, successRate: 0.5, meanLatencyMs: 100, ... }
 * ```
 */
export class AgentMetrics {
  private _calls = 0
  private _errors = 0
  private totalLatencyMs = 0
  private _ewmaLatencyMs = 0
  private _ewmaErrorRate = 0
  private readonly ring = new Float64Array(WINDOW)
  private ringSize = 0
  private ringNext = 0
  private _lastError: string | undefined

  /** Calls recorded so far. */
  get calls(): number {
    return this._calls
  }

  /** Failed calls recorded so far. */
  get errors(): number {
    return this._errors
  }

  /** Moving average of latency in ms (alpha 0.2); `0` before the first call. */
  get ewmaLatencyMs(): number {
    return this._ewmaLatencyMs
  }

  /** Moving average of the error rate in [0, 1] (alpha 0.2); `0` before the first call. */
  get ewmaErrorRate(): number {
    return this._ewmaErrorRate
  }

  /** Text of the last recorded error, if any. */
  get lastError(): string | undefined {
    return this._lastError
  }

  /**
   * Records one finished call. O(1), no allocation. A negative or non-finite
   * latency counts as 0 ms.
   */
  record(latencyMs: number, ok: boolean): void {
    const latency = latencyMs >= 0 && latencyMs !== Infinity ? latencyMs : 0
    const failure = ok ? 0 : 1
    if (this._calls === 0) {
      this._ewmaLatencyMs = latency
    } else {
      this._ewmaLatencyMs += ALPHA * (latency - this._ewmaLatencyMs)
    }
    this._ewmaErrorRate += ALPHA * (failure - this._ewmaErrorRate)
    this._calls++
    this._errors += failure
    this.totalLatencyMs += latency
    this.ring[this.ringNext] = latency
    this.ringNext = this.ringNext === WINDOW - 1 ? 0 : this.ringNext + 1
    if (this.ringSize < WINDOW) this.ringSize++
  }

  /** Remembers the text of the latest error, shown as `lastError` in snapshots. */
  recordError(message: string): void {
    this._lastError = message
  }

  /** A JSON-safe copy of the statistics now (sorts the latency window: O(n log n), n ≤ 1024). */
  snapshot(): AgentMetricsSnapshot {
    const calls = this._calls
    const snapshot: AgentMetricsSnapshot = {
      calls,
      errors: this._errors,
      successRate: calls === 0 ? 1 : (calls - this._errors) / calls,
      meanLatencyMs: calls === 0 ? 0 : this.totalLatencyMs / calls,
      p95LatencyMs: this.percentile(0.95),
      ewmaLatencyMs: this._ewmaLatencyMs,
      ewmaErrorRate: this._ewmaErrorRate,
    }
    if (this._lastError !== undefined) snapshot.lastError = this._lastError
    return snapshot
  }

  /** Nearest-rank percentile `q` in (0, 1] of the latency window; `0` when empty. */
  private percentile(q: number): number {
    const n = this.ringSize
    if (n === 0) return 0
    const sorted = this.ring.slice(0, n).sort()
    return sorted[Math.max(0, Math.ceil(q * n) - 1)]
  }
}
