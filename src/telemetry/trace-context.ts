import type { Span, SpanContext, TraceContext } from './telemetry.js'

/** The key `@opentelemetry/api` keeps the active span under (`createContextKey` is `Symbol.for`). */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN')

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** An immutable context, the shape of OpenTelemetry's `Context`, without loading `@opentelemetry/api`. */
class ParentContext implements TraceContext {
  constructor(private readonly values: ReadonlyMap<symbol, unknown>) {}

  getValue(key: symbol): unknown {
    return this.values.get(key)
  }

  setValue(key: symbol, value: unknown): TraceContext {
    return new ParentContext(new Map(this.values).set(key, value))
  }

  deleteValue(key: symbol): TraceContext {
    const values = new Map(this.values)
    values.delete(key)
    return new ParentContext(values)
  }
}

/** A span known only by its ids (from another process): a parent, recording nothing here. */
function remoteSpan(context: SpanContext): Span & { isRecording(): boolean } {
  const span: Span & { isRecording(): boolean } = {
    spanContext: () => ({ ...context, isRemote: true }) as SpanContext,
    isRecording: () => false,
    setAttribute: () => span,
    setStatus: () => span,
    recordException: () => undefined,
    end: () => undefined,
  }
  return span
}

/**
 * The W3C `traceparent` of a span (`00-<trace id>-<span id>-<flags>`), or
 * `undefined` for a span that records nothing (all-zero ids).
 *
 * @example
 * ```ts
 * const span = tracer.startSpan('work')
 * childProcess.send({ traceparent: traceparentOf(span) })
 * ```
 */
export function traceparentOf(span: Pick<Span, 'spanContext'>): string | undefined {
  const c = span.spanContext()
  if (!TRACEPARENT.test(`00-${c.traceId}-${c.spanId}-00`) || /^0+$/.test(c.traceId) || /^0+$/.test(c.spanId))
    return undefined
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, '0')}`
}

/** The ids a W3C `traceparent` header carries; `undefined` when it is malformed or all zeros. */
export function parseTraceparent(value: string): SpanContext | undefined {
  const m = TRACEPARENT.exec(value.trim())
  if (m === null || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) }
}

/**
 * The context to start a child span in: the parent span itself (this
 * process), or its W3C `traceparent` (another process). `undefined` when
 * there is no parent (or the `traceparent` is malformed): the span is a root.
 *
 * @example
 * ```ts
 * const child = tracer.startSpan('step', {}, traceContextOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'))
 * ```
 */
export function traceContextOf(parent: Span | string | undefined): TraceContext | undefined {
  if (parent === undefined) return undefined
  if (typeof parent !== 'string') return new ParentContext(new Map([[SPAN_KEY, parent]]))
  const ids = parseTraceparent(parent)
  return ids === undefined ? undefined : new ParentContext(new Map([[SPAN_KEY, remoteSpan(ids)]]))
}
