import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base'

/** A tracer whose spans are kept in memory by OpenTelemetry's own exporter. */
export function memoryTracer() {
  const exporter = new InMemorySpanExporter()
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test')
  return { exporter, tracer }
}

/** The span id of a span's parent, if it has one. */
export const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId

/** The first span of that name (and task), or an error listing the names there are. */
export const named = (spans: readonly ReadableSpan[], name: string, task?: string): ReadableSpan => {
  const found = spans.find((s) => s.name === name && (task === undefined || s.attributes['flotilla.task_id'] === task))
  if (found === undefined) throw new Error(`no span ${name} ${task ?? ''} in ${spans.map((s) => s.name).join(', ')}`)
  return found
}
