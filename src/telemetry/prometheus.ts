import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import type { Metric, Registry } from 'prom-client'
import { PrometheusFamily, type FamilyType } from './prometheus-family.js'
import type {
  Counter,
  Histogram,
  InstrumentOptions,
  Meter,
  ObservableCallback,
  ObservableGauge,
  ObservableResult,
  TelemetryAttributes,
  UpDownCounter,
} from './telemetry.js'

/** Options of {@link prometheusMeter}. */
export interface PrometheusMeterOptions {
  /** The registry the metrics go to. @default a new `prom-client` `Registry` */
  readonly registry?: Registry
  /**
   * The attribute names of instruments Flotilla does not know, by
   * instrument name (a Prometheus metric has a fixed label set). Without
   * them, the attributes of an instrument's first record fix its labels;
   * attributes outside the set are dropped.
   */
  readonly labels?: Readonly<Record<string, readonly string[]>>
  /**
   * Whether `GET /metrics` gzips the text for a scraper that accepts gzip
   * (level 1: 3.3 MiB become about 220 KiB with 1,000 agents, for about
   * 5 ms of CPU a scrape that changed something). Worth it when Prometheus
   * scrapes over a network; over loopback it costs more CPU than it saves.
   * @default false
   */
  readonly gzip?: boolean
}

/** A {@link Meter} over `prom-client`, and the text Prometheus scrapes. */
export interface PrometheusMetrics {
  /** Pass it as `telemetry.meter` to an `Orchestrator`, a `Worker` or `startServer`. */
  readonly meter: Meter
  /** The `prom-client` registry holding the metrics. */
  readonly registry: Registry
  /** The `Content-Type` of {@link PrometheusMetrics.metrics}' text (exposition format 0.0.4). */
  readonly contentType: string
  /** Every metric in the Prometheus text exposition format. */
  metrics(): Promise<string>
  /**
   * The same text as UTF-8 bytes, what `GET /metrics` sends: kept between
   * two scrapes with nothing recorded in between (not encoded again).
   */
  body(): Promise<Uint8Array<ArrayBuffer>>
  /**
   * The same bytes gzipped (level 1), what `GET /metrics` sends to a scraper
   * that accepts gzip (Prometheus does): kept, as {@link PrometheusMetrics.body},
   * between two scrapes with nothing recorded in between. Only with
   * {@link PrometheusMeterOptions.gzip}.
   */
  readonly gzipBody?: () => Promise<Uint8Array<ArrayBuffer>>
}

/** The attributes of the instruments Flotilla reports, so each metric's labels are known when it is made. */
const KNOWN_LABELS: Readonly<Record<string, readonly string[]>> = {
  'flotilla.task.attempts': ['agent', 'outcome'],
  'flotilla.task.duration': ['agent', 'outcome'],
  'flotilla.task.running': ['agent'],
  'flotilla.task.retries': ['agent'],
  'flotilla.tasks': ['state'],
  'flotilla.runs': ['state'],
  'flotilla.worker.claimed': ['worker'],
  'flotilla.worker.claim.duration': ['worker'],
  'flotilla.worker.queue.depth': ['worker'],
  'flotilla.circuit.state': ['agent', 'state'],
  'flotilla.bus.published': ['kind'],
  'flotilla.bus.delivered': ['kind'],
  'flotilla.bus.dead_letters': ['agent'],
  'flotilla.store.commit.duration': ['store', 'path'],
  'flotilla.http.requests': ['method', 'route', 'status'],
  'flotilla.http.request.duration': ['method', 'route', 'status'],
  'flotilla.model.tokens': [
    'gen_ai.operation.name',
    'gen_ai.provider.name',
    'gen_ai.request.model',
    'flotilla.agent',
    'gen_ai.token.type',
  ],
  'gen_ai.client.token.usage': [
    'gen_ai.operation.name',
    'gen_ai.provider.name',
    'gen_ai.request.model',
    'flotilla.agent',
    'gen_ai.token.type',
  ],
  // By model only: a histogram per agent is a dozen lines per agent a scrape (tokens and cost stay by agent)
  'gen_ai.client.operation.duration': ['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model'],
  'flotilla.model.cost': ['gen_ai.operation.name', 'gen_ai.provider.name', 'gen_ai.request.model', 'flotilla.agent'],
}

/**
 * Histograms reported as a counter of their sum: tokens by model and agent
 * are two lines per agent and model instead of eighteen (the distribution of
 * tokens per call is in the spans).
 */
const SUMMED: Readonly<Record<string, { name: string; help: string }>> = {
  'gen_ai.client.token.usage': {
    name: 'flotilla.model.tokens',
    help: 'Tokens used by model calls, by model, agent and token type (input, output)',
  },
}

// Few buckets: a histogram series has a line per bucket, and with 1,000 agents each bucket is thousands of lines a scrape.
const SECONDS_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]
const TOKEN_BUCKETS = [1, 16, 256, 4096, 65536, 1048576]
const COUNT_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]

/** A Prometheus name part: `[a-zA-Z0-9_]`, not starting with a digit. */
function promName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_')
  return /^[0-9]/.test(s) ? `_${s}` : s
}

/**
 * How an instrument's unit shows in Prometheus: milliseconds become seconds
 * (the base unit, `_seconds`), `s` is `_seconds`, `USD` `_usd`, bytes
 * `_bytes`; annotations such as `{token}` add nothing.
 */
function unitOf(unit: string | undefined): { suffix: string; scale: number; buckets: number[] } {
  switch (unit) {
    case 'ms':
      return { suffix: '_seconds', scale: 1 / 1000, buckets: SECONDS_BUCKETS }
    case 's':
      return { suffix: '_seconds', scale: 1, buckets: SECONDS_BUCKETS }
    case 'USD':
      return { suffix: '_usd', scale: 1, buckets: [0.0001, 0.001, 0.01, 0.1, 1, 10, 100] }
    case 'By':
      return { suffix: '_bytes', scale: 1, buckets: [1024, 16384, 262144, 4194304, 67108864] }
    case '{token}':
      return { suffix: '', scale: 1, buckets: TOKEN_BUCKETS }
    default:
      return { suffix: '', scale: 1, buckets: COUNT_BUCKETS }
  }
}

/**
 * Labels of one record, in the metric's label set: names mapped to label
 * names, missing ones empty, others dropped.
 */
function labeller(
  declared: readonly string[] | undefined,
): (attributes: TelemetryAttributes | undefined) => Record<string, string> {
  // The label names of a declared set are made once, not at every record
  const known = declared?.map((name) => [name, promName(name)] as const)
  return (attributes) => {
    const out: Record<string, string> = {}
    const names = known ?? Object.keys(attributes ?? {}).map((name) => [name, promName(name)] as const)
    for (const [name, label] of names) {
      const v = attributes?.[name]
      out[label] = v === undefined ? '' : String(v)
    }
    return out
  }
}

/** Makes the family on first use (its labels are those of the first record when not known beforehand). */
function lazy(declared: readonly string[] | undefined, make: (labelNames: string[]) => PrometheusFamily) {
  let made:
    | { family: PrometheusFamily; labels: (a: TelemetryAttributes | undefined) => Record<string, string> }
    | undefined
  return (attributes: TelemetryAttributes | undefined) => {
    if (made === undefined) {
      const names = declared ?? Object.keys(attributes ?? {}).filter((k) => attributes?.[k] !== undefined)
      made = { family: make(names.map(promName)), labels: labeller(names) }
    }
    return { family: made.family, labels: made.labels(attributes) }
  }
}

/** The gauges read at each scrape: their callbacks, and the family their values go to. */
interface Observed {
  readonly callbacks: Set<ObservableCallback>
  readonly result: (epoch: number) => ObservableResult
  readonly prune: (epoch: number) => void
}

function meterOver(
  registry: Registry,
  families: PrometheusFamily[],
  observed: Observed[],
  options: PrometheusMeterOptions,
): Meter {
  const labelsOf = (name: string) => options.labels?.[name] ?? KNOWN_LABELS[name]
  const help = (name: string, o: InstrumentOptions | undefined) => o?.description ?? name
  const family = (name: string, helpText: string, type: FamilyType, labelNames: string[], buckets?: number[]) => {
    const made = new PrometheusFamily(name, helpText, type, labelNames, buckets)
    registry.registerMetric(made as unknown as Metric)
    families.push(made)
    return made
  }
  const meter: Meter = {
    createCounter(name: string, o?: InstrumentOptions): Counter {
      const { suffix, scale } = unitOf(o?.unit)
      const get = lazy(labelsOf(name), (labelNames) =>
        family(`${promName(name)}${suffix}_total`, help(name, o), 'counter', labelNames),
      )
      return {
        add(value, attributes) {
          const { family: f, labels } = get(attributes)
          f.add(labels, value * scale)
        },
      }
    },
    createUpDownCounter(name: string, o?: InstrumentOptions): UpDownCounter {
      const { suffix, scale } = unitOf(o?.unit)
      const get = lazy(labelsOf(name), (labelNames) =>
        family(`${promName(name)}${suffix}`, help(name, o), 'gauge', labelNames),
      )
      return {
        add(value, attributes) {
          const { family: f, labels } = get(attributes)
          f.add(labels, value * scale)
        },
      }
    },
    createHistogram(name: string, o?: InstrumentOptions): Histogram {
      const summed = SUMMED[name]
      if (summed !== undefined) {
        const counter = meter.createCounter(summed.name, { ...o, description: summed.help })
        return { record: (value, attributes) => counter.add(value, attributes) }
      }
      const { suffix, scale, buckets } = unitOf(o?.unit)
      const get = lazy(labelsOf(name), (labelNames) =>
        family(`${promName(name)}${suffix}`, help(name, o), 'histogram', labelNames, buckets),
      )
      return {
        record(value, attributes) {
          const { family: f, labels } = get(attributes)
          f.observe(labels, value * scale)
        },
      }
    },
    createObservableGauge(name: string, o?: InstrumentOptions): ObservableGauge {
      const { suffix, scale } = unitOf(o?.unit)
      const get = lazy(labelsOf(name), (labelNames) =>
        family(`${promName(name)}${suffix}`, help(name, o), 'gauge', labelNames),
      )
      let made: PrometheusFamily | undefined
      const callbacks = new Set<ObservableCallback>()
      observed.push({
        callbacks,
        result: (epoch) => ({
          observe(value, attributes) {
            const { family: f, labels } = get(attributes)
            made = f
            f.set(labels, value * scale, epoch)
          },
        }),
        prune: (epoch) => made?.prune(epoch),
      })
      return {
        addCallback: (c) => void callbacks.add(c),
        removeCallback: (c) => void callbacks.delete(c),
      }
    },
  }
  // One instrument per name and kind, as OpenTelemetry does: an orchestrator and a worker in one process share them
  const instruments = new Map<string, unknown>()
  const once = <T>(key: string, make: () => T): T => {
    let made = instruments.get(key) as T | undefined
    if (made === undefined) instruments.set(key, (made = make()))
    return made
  }
  return {
    createCounter: (name, o) => once(`counter ${name}`, () => meter.createCounter(name, o)),
    createUpDownCounter: (name, o) => once(`updown ${name}`, () => meter.createUpDownCounter(name, o)),
    createHistogram: (name, o) => once(`histogram ${name}`, () => meter.createHistogram(name, o)),
    createObservableGauge: (name, o) => once(`gauge ${name}`, () => meter.createObservableGauge!(name, o)),
  }
}

// Level 1: a tenth of the time of the default level for nearly the same size (the text is very repetitive)
const gzipAsync = promisify(gzip)
const gzipped = (bytes: Buffer): Promise<Buffer> => gzipAsync(bytes, { level: 1 })
const toArrayBuffer = (b: Buffer): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>

/** Reads every observable gauge (their callbacks at once), then forgets the series none of them observed. */
async function readGauges(observed: readonly Observed[], epoch: number): Promise<void> {
  const pending: Promise<void>[] = []
  for (const o of observed) {
    const result = o.result(epoch)
    for (const callback of o.callbacks) {
      const r = callback(result)
      if (r !== undefined) pending.push(r)
    }
  }
  if (pending.length > 0) await Promise.all(pending)
  for (const o of observed) o.prune(epoch)
}

/**
 * A {@link Meter} whose instruments are `prom-client` metrics, one each,
 * made once per name: counters become `<name>_total`, up-down counters and
 * observable gauges gauges (the latter read at each scrape), histograms
 * histograms with buckets for their unit (durations in seconds), except
 * model tokens, summed into `flotilla_model_tokens_total`. Dots become
 * underscores, in names and labels.
 * `prom-client` is imported here, on the first call, not with `flotilla`.
 *
 * @example
 * ```ts
 * import { Orchestrator, defineAgent, prometheusMeter, workflow } from 'flotilla'
 *
 * const prometheus = await prometheusMeter()
 * const orchestrator = new Orchestrator({ store: 'memory', telemetry: { meter: prometheus.meter } })
 * await orchestrator.register(defineAgent({ name: 'double', handler: (n: number) => n * 2 }))
 * await orchestrator.run(workflow('counted').task('a', { agent: 'double', input: 21 }).build())
 * console.log((await prometheus.metrics()).includes('flotilla_task_attempts_total{agent="double@1",outcome="ok"} 1')) // true
 * await orchestrator.close()
 * ```
 */
export async function prometheusMeter(options: PrometheusMeterOptions = {}): Promise<PrometheusMetrics> {
  const client = await import('prom-client')
  const registry = options.registry ?? new client.Registry()
  const families: PrometheusFamily[] = []
  const observed: Observed[] = []
  let epoch = 0
  let last:
    | { version: number; count: number; bytes: Buffer<ArrayBuffer>; text?: string; gzipped?: Promise<Buffer> }
    | undefined
  /**
   * Flotilla's families as UTF-8 (kept while unchanged; after a change, the
   * kept bytes of every series copied into one buffer, only the changed
   * series rendered), and the text prom-client renders of metrics of one's own.
   */
  const render = async (): Promise<{ own: NonNullable<typeof last>; rest: string[] }> => {
    if (observed.length > 0) await readGauges(observed, ++epoch)
    const mine = new Set<unknown>(families)
    const others = registry.getMetricsAsArray().filter((m) => !mine.has(m))
    const rest = await Promise.all(others.map((m) => registry.getSingleMetricAsString(m.name)))
    let version = 0
    for (const f of families) version += f.version
    if (last === undefined || last.version !== version || last.count !== families.length) {
      const parts: Buffer[] = []
      let size = 0
      for (const f of families) size += f.collect(parts)
      last = { version, count: families.length, bytes: Buffer.concat(parts, size) }
    }
    return { own: last, rest }
  }
  const restText = (rest: readonly string[]): string => rest.map((t) => `${t}\n`).join('')
  return {
    meter: meterOver(registry, families, observed, options),
    registry,
    get contentType() {
      return registry.contentType
    },
    async metrics() {
      const { own, rest } = await render()
      const text = (own.text ??= own.bytes.toString('utf8'))
      return rest.length === 0 ? text : text + restText(rest)
    },
    async body() {
      const { own, rest } = await render()
      return rest.length === 0 ? own.bytes : Buffer.concat([own.bytes, Buffer.from(restText(rest))])
    },
    ...(options.gzip === true && {
      async gzipBody() {
        const { own, rest } = await render()
        if (rest.length > 0)
          return toArrayBuffer(await gzipped(Buffer.concat([own.bytes, Buffer.from(restText(rest))])))
        return toArrayBuffer(await (own.gzipped ??= gzipped(own.bytes)))
      },
    }),
  }
}
