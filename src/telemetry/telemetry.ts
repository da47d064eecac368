/**
 * The telemetry port: where Flotilla's library code sends its logs, metrics
 * and traces. Each interface is the subset of a standard API that Flotilla
 * calls, so the standard object itself is passed, with no wrapper per call:
 * a `pino` logger is a {@link Logger}; an OpenTelemetry `Meter` and `Tracer`
 * (`@opentelemetry/api`) are a {@link Meter} and a {@link Tracer}. For
 * Prometheus, {@link Meter} is made once per instrument over `prom-client`.
 * Every part defaults to a no-op, and library code never writes to the
 * console.
 */

/** Values of metric and span attributes (OpenTelemetry's `Attributes`, narrowed). */
export type TelemetryAttributes = Record<string, string | number | boolean | undefined>

/**
 * Structured logs, the shape of `pino` (and of most JSON loggers): context
 * first, then the message.
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * const telemetry = { logger: pino() } // a pino logger is a Logger
 * ```
 */
export interface Logger {
  debug(data: Record<string, unknown>, message: string): void
  info(data: Record<string, unknown>, message: string): void
  warn(data: Record<string, unknown>, message: string): void
  error(data: Record<string, unknown>, message: string): void
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger
}

/** A monotonic count (OpenTelemetry `Counter`). */
export interface Counter {
  add(value: number, attributes?: TelemetryAttributes): void
}

/** A count that goes up and down, e.g. attempts running now (OpenTelemetry `UpDownCounter`). */
export interface UpDownCounter {
  add(value: number, attributes?: TelemetryAttributes): void
}

/** A distribution, e.g. durations (OpenTelemetry `Histogram`). */
export interface Histogram {
  record(value: number, attributes?: TelemetryAttributes): void
}

/** Options of an instrument (OpenTelemetry `MetricOptions`). */
export interface InstrumentOptions {
  description?: string
  /** UCUM unit, e.g. `ms`, `{attempt}`. */
  unit?: string
}

/** Where an {@link ObservableGauge}'s callback reports its values (OpenTelemetry `ObservableResult`). */
export interface ObservableResult {
  observe(value: number, attributes?: TelemetryAttributes): void
}

/** Reads the current values when the meter collects them. */
export type ObservableCallback = (result: ObservableResult) => void | Promise<void>

/**
 * A value read when the metrics are collected (a scrape), not recorded as it
 * changes (OpenTelemetry `ObservableGauge`): what it measures costs nothing
 * between two collections.
 */
export interface ObservableGauge {
  addCallback(callback: ObservableCallback): void
  removeCallback(callback: ObservableCallback): void
}

/** Creates instruments, once each (the OpenTelemetry `Meter` API). */
export interface Meter {
  createCounter(name: string, options?: InstrumentOptions): Counter
  createUpDownCounter(name: string, options?: InstrumentOptions): UpDownCounter
  createHistogram(name: string, options?: InstrumentOptions): Histogram
  /** Values read at collection (queue depths, circuit states); a meter without it does not report them. */
  createObservableGauge?(name: string, options?: InstrumentOptions): ObservableGauge
}

/** The status of a finished span: 0 unset, 1 ok, 2 error (OpenTelemetry `SpanStatusCode`). */
export interface SpanStatus {
  code: number
  message?: string
}

/** Who a span is, as the W3C `traceparent` carries it (OpenTelemetry `SpanContext`). */
export interface SpanContext {
  /** 32 lower-case hex digits; all zeros: invalid (a span that records nothing). */
  traceId: string
  /** 16 lower-case hex digits. */
  spanId: string
  /** Bit 1: sampled. */
  traceFlags: number
}

/**
 * Where a span starts from: OpenTelemetry's `Context`, given to
 * `Tracer.startSpan` as its third argument. Flotilla makes one holding the
 * parent span (see `traceContextOf`) under the key `@opentelemetry/api`
 * uses, so an OpenTelemetry tracer links the new span to it.
 */
export interface TraceContext {
  getValue(key: symbol): unknown
  setValue(key: symbol, value: unknown): TraceContext
  deleteValue(key: symbol): TraceContext
}

/** One timed operation (the OpenTelemetry `Span` methods Flotilla calls). */
export interface Span {
  /** Its trace and span ids, for children in this process or another (W3C `traceparent`). */
  spanContext(): SpanContext
  setAttribute(key: string, value: string | number | boolean): Span
  setStatus(status: SpanStatus): Span
  recordException(exception: Error | string): void
  /** Ends the span, at `endTime` (ms since the epoch) when given. */
  end(endTime?: number): void
}

/** A span of another trace that a span relates to (OpenTelemetry `Link`): e.g. the runs of a group commit. */
export interface SpanLink {
  context: SpanContext
  attributes?: TelemetryAttributes
}

/** Options of {@link Tracer.startSpan} (OpenTelemetry `SpanOptions`, narrowed). */
export interface SpanOptions {
  attributes?: TelemetryAttributes
  /** Ms since the epoch: dates the span back, for work reported after it ended (model calls). */
  startTime?: number
  /** 0 internal, 1 server, 2 client, 3 producer, 4 consumer (OpenTelemetry `SpanKind`). */
  kind?: number
  /** True: a trace of its own, whatever the context holds. */
  root?: boolean
  /** Spans of other traces it relates to. */
  links?: SpanLink[]
}

/** Starts spans (the OpenTelemetry `Tracer` API). */
export interface Tracer {
  /** Starts a span, the child of the span `context` holds (see `traceContextOf`); a root span without one. */
  startSpan(name: string, options?: SpanOptions, context?: TraceContext): Span
}

/** The three telemetry pipes, each optional. */
export interface Telemetry {
  /** @default a logger that drops everything */
  logger?: Logger
  /** @default instruments that drop everything */
  meter?: Meter
  /** @default spans that record nothing */
  tracer?: Tracer
}

/** {@link Telemetry} with every part present. */
export interface ResolvedTelemetry {
  readonly logger: Logger
  readonly meter: Meter
  readonly tracer: Tracer
  /** False when no tracer was given: callers skip building spans altogether. */
  readonly tracing: boolean
}

const noop = (): void => undefined

/** A {@link Logger} that drops everything. */
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => noopLogger }

const noopInstrument = { add: noop, record: noop }

/** A {@link Meter} whose instruments drop everything. */
export const noopMeter: Meter = {
  createCounter: () => noopInstrument,
  createUpDownCounter: () => noopInstrument,
  createHistogram: () => noopInstrument,
  createObservableGauge: () => ({ addCallback: noop, removeCallback: noop }),
}

const invalidContext: SpanContext = { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }
const noopSpan: Span = {
  spanContext: () => invalidContext,
  setAttribute: () => noopSpan,
  setStatus: () => noopSpan,
  recordException: noop,
  end: noop,
}

/** A {@link Tracer} whose spans record nothing. */
export const noopTracer: Tracer = { startSpan: () => noopSpan }

/**
 * Fills in the no-op parts.
 *
 * @example
 * ```ts
 * const { logger } = resolveTelemetry(undefined)
 * logger.warn({ runId: 'run_1' }, 'dropped') // goes nowhere
 * ```
 */
export function resolveTelemetry(telemetry: Telemetry | undefined): ResolvedTelemetry {
  return {
    logger: telemetry?.logger ?? noopLogger,
    meter: telemetry?.meter ?? noopMeter,
    tracer: telemetry?.tracer ?? noopTracer,
    tracing: telemetry?.tracer !== undefined,
  }
}

/** What to log of a caught error: its code, message and details when it has them. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const e = error as Error & { code?: unknown; details?: unknown }
    return {
      err: {
        name: e.name,
        message: e.message,
        ...(e.code === undefined ? {} : { code: e.code }),
        ...(e.details === undefined ? {} : { details: e.details }),
      },
    }
  }
  return { err: { message: String(error) } }
}
