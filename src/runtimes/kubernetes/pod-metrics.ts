/**
 * Pod usage from the cluster's metrics API (`metrics.k8s.io/v1beta1`
 * PodMetrics, served by metrics-server), when the cluster has one: one list
 * per namespace, shared by every agent pod of a runtime and read again at
 * most once per interval. A cluster without the API (404), or a service
 * account not allowed to read it (403), gives no usage and no error.
 */
import type { KubeApi, PodMetricsSample } from './kube-api.js'

/** How long a usage call waits for a list being read before answering without it. */
const WAIT_MS = 2_000
/** How long to wait before asking again an API server that has no metrics API. */
const ABSENT_RETRY_MS = 60_000

/** Reads the PodMetrics of a namespace for the pods of one runtime. */
export class PodMetricsReader {
  private samples = new Map<string, PodMetricsSample>()
  private readAt = Number.NEGATIVE_INFINITY
  private absentUntil = Number.NEGATIVE_INFINITY
  private reading: Promise<void> | undefined

  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly intervalMs: number,
  ) {}

  /** Whether the last look found no metrics API (or no right to read it). */
  get absent(): boolean {
    return this.absentUntil > Date.now()
  }

  /** The last sample of pod `name`, read again first when older than the interval; `undefined` when unknown. */
  async of(name: string): Promise<PodMetricsSample | undefined> {
    const now = Date.now()
    if (this.api.podMetrics === undefined || now < this.absentUntil || this.intervalMs <= 0) return undefined
    if (now - this.readAt >= this.intervalMs) {
      this.reading ??= this.read().finally(() => (this.reading = undefined))
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.reading, new Promise<void>((r) => (timer = setTimeout(r, WAIT_MS)))])
      clearTimeout(timer)
    }
    return this.samples.get(name)
  }

  private async read(): Promise<void> {
    try {
      const list = await this.api.podMetrics!(this.namespace)
      this.readAt = Date.now()
      if (list === undefined) {
        this.absentUntil = this.readAt + ABSENT_RETRY_MS
        this.samples = new Map()
        return
      }
      this.samples = new Map(list.map((s) => [s.name, s]))
    } catch {
      // an API server that fails now may answer later: usage stays what the runner reports meanwhile
      this.readAt = Date.now()
      this.samples = new Map()
    }
  }
}
