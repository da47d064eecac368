/**
 * One Prometheus metric family of Flotilla's instruments, kept so that a
 * scrape is cheap with thousands of series: each series keeps its lines as
 * UTF-8 bytes and renders them again only after it changed (an add, set or
 * observe marks it), and the scrape copies the kept bytes into one buffer
 * (see {@link PrometheusFamily.collect}): no text is joined or encoded again.
 * The family is also a `prom-client` metric (its `get()` gives the values,
 * which `prom-client` renders to the same lines), registered in the registry
 * like any other.
 */

/** The kind of a family. */
export type FamilyType = 'counter' | 'gauge' | 'histogram'

interface Series {
  /** `a="x",b="y"`: the labels in the family's order, escaped. */
  readonly labelText: string
  readonly labels: Readonly<Record<string, string>>
  value: number
  sum: number
  count: number
  /** Observations per bucket (not cumulative); the last counts those above every bound. */
  readonly counts: number[]
  /** The series' lines as UTF-8, undefined after a change until the next scrape renders them. */
  bytes: Buffer | undefined
  /** The collection that last observed it (gauges read at collection). */
  seen: number
}

/** The shape `prom-client` reads from a metric's `get()` (MetricObjectWithValues). */
interface PromValues {
  name: string
  help: string
  type: FamilyType
  aggregator: 'sum'
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[]
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

/** A sample value as the text format writes it. */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return '+Inf'
  if (v === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(v)
}

/** A counter, gauge or histogram with a fixed label set. */
export class PrometheusFamily {
  private readonly series = new Map<string, Series>()
  private readonly header: Buffer
  private readonly bounds: readonly string[]
  /** Counts the changes: a scrape with the same versions everywhere answers its last text. */
  version = 0
  /** The version of the last {@link PrometheusFamily.collect}. */
  private collected = -1
  /** The family's bytes in one piece, once two collections in a row found it unchanged. */
  private whole: { readonly version: number; readonly bytes: Buffer } | undefined

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: FamilyType,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[] = [],
  ) {
    this.header = Buffer.from(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`)
    this.bounds = [...buckets.map(num), '+Inf']
  }

  /** Adds `value` to the series of `labels` (a counter or gauge). */
  add(labels: Readonly<Record<string, string>>, value: number): void {
    const s = this.at(labels)
    s.value += value
    s.bytes = undefined
    this.version++
  }

  /**
   * Sets the series of `labels` to `value` (a gauge read at collection
   * number `epoch`); an unchanged value keeps the series' text.
   */
  set(labels: Readonly<Record<string, string>>, value: number, epoch: number): void {
    const s = this.at(labels)
    s.seen = epoch
    if (s.value === value && s.bytes !== undefined) return
    s.value = value
    s.bytes = undefined
    this.version++
  }

  /** Forgets the series that collection `epoch` did not observe (an agent or a worker gone). */
  prune(epoch: number): void {
    for (const [key, s] of this.series)
      if (s.seen !== epoch) {
        this.series.delete(key)
        this.version++
      }
  }

  /** Records one observation in the series of `labels` (a histogram). */
  observe(labels: Readonly<Record<string, string>>, value: number): void {
    const s = this.at(labels)
    let i = 0
    while (i < this.buckets.length && value > this.buckets[i]!) i++
    s.counts[i]!++
    s.sum += value
    s.count++
    s.bytes = undefined
    this.version++
  }

  /**
   * Appends the family's pieces of the text exposition format, as UTF-8
   * (each line ends with a newline), to `parts`: its header, then each
   * series' kept bytes, rendered again only for the series changed since the
   * last call. Returns the number of bytes appended.
   */
  collect(parts: Buffer[]): number {
    if (this.whole?.version === this.version) {
      parts.push(this.whole.bytes)
      return this.whole.bytes.length
    }
    // A family unchanged since the last call is kept in one piece: the next scrapes copy it at once
    const unchanged = this.collected === this.version
    this.collected = this.version
    const mine: Buffer[] = unchanged ? [] : parts
    mine.push(this.header)
    let size = this.header.length
    for (const s of this.series.values()) {
      const bytes = (s.bytes ??= Buffer.from(this.lines(s)))
      mine.push(bytes)
      size += bytes.length
    }
    if (unchanged) {
      this.whole = { version: this.version, bytes: Buffer.concat(mine, size) }
      parts.push(this.whole.bytes)
    }
    return size
  }

  /** The values as `prom-client` reads them (`registry.metrics()`, `getMetricsAsJSON()`). */
  get(): Promise<PromValues> {
    const values: PromValues['values'] = []
    for (const s of this.series.values()) {
      if (this.type !== 'histogram') {
        values.push({ value: s.value, labels: { ...s.labels } })
        continue
      }
      let cumulative = 0
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!
        values.push({ value: cumulative, labels: { ...s.labels, le }, metricName: `${this.name}_bucket` })
      })
      values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` })
      values.push({ value: s.count, labels: { ...s.labels }, metricName: `${this.name}_count` })
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: 'sum', values })
  }

  /** Forgets every series (`registry.resetMetrics()`). */
  reset(): void {
    this.series.clear()
    this.version++
  }

  private at(labels: Readonly<Record<string, string>>): Series {
    let key = ''
    for (const n of this.labelNames) key += `${labels[n] ?? ''}\u0000`
    let s = this.series.get(key)
    if (s === undefined) {
      const own: Record<string, string> = {}
      for (const n of this.labelNames) own[n] = labels[n] ?? ''
      s = {
        labelText: this.labelNames.map((n) => `${n}="${escapeLabel(own[n]!)}"`).join(','),
        labels: own,
        value: 0,
        sum: 0,
        count: 0,
        counts: this.type === 'histogram' ? new Array<number>(this.buckets.length + 1).fill(0) : [],
        bytes: undefined,
        seen: 0,
      }
      this.series.set(key, s)
    }
    return s
  }

  private lines(s: Series): string {
    const braces = s.labelText === '' ? '' : `{${s.labelText}}`
    if (this.type !== 'histogram') return `${this.name}${braces} ${num(s.value)}\n`
    const sep = s.labelText === '' ? '' : ','
    let out = ''
    let cumulative = 0
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += s.counts[i]!
      out += `${this.name}_bucket{${s.labelText}${sep}le="${this.bounds[i]!}"} ${cumulative}\n`
    }
    return `${out}${this.name}_sum${braces} ${num(s.sum)}\n${this.name}_count${braces} ${s.count}\n`
  }
}
