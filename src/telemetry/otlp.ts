import type { Tracer } from './telemetry.js'

/** A tracer exporting over OTLP/HTTP, and how to flush it. */
export interface OtlpTracing {
  readonly tracer: Tracer
  /** The endpoint spans go to (for people: logs, `--help`). */
  readonly endpoint: string
  /** Sends the spans still buffered. */
  flush(): Promise<void>
  /** Flushes, then stops exporting. */
  shutdown(): Promise<void>
}

/**
 * Whether OTLP trace export is configured in `env`: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base: `/v1/traces` is
 * added), and `OTEL_TRACES_EXPORTER` is not `none`. Returns the traces URL.
 */
export function otlpTracesEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.OTEL_TRACES_EXPORTER?.trim() === 'none' || env.OTEL_SDK_DISABLED?.trim() === 'true') return undefined
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
  if (traces) return traces
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  if (base) return `${base.replace(/\/+$/, '')}/v1/traces`
  return undefined
}

/**
 * A tracer that exports spans over OTLP/HTTP (JSON) when the environment
 * configures it ({@link otlpTracesEndpoint}), `undefined` otherwise. The
 * OpenTelemetry SDK and exporter are imported here, on this call, so a
 * process without the variables never loads them. The exporter reads the
 * other standard variables (`OTEL_EXPORTER_OTLP_HEADERS`,
 * `OTEL_EXPORTER_OTLP_TIMEOUT`…); the resource is `service.name`
 * (`OTEL_SERVICE_NAME`, else `serviceName`) plus `OTEL_RESOURCE_ATTRIBUTES`.
 *
 * @example
 * ```ts
 * const otlp = await otlpTracing('my-worker') // undefined without OTEL_EXPORTER_OTLP_ENDPOINT
 * const worker = new Worker({ store: url, telemetry: otlp ? { tracer: otlp.tracer } : {} })
 * // …
 * await otlp?.shutdown()
 * ```
 */
export async function otlpTracing(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OtlpTracing | undefined> {
  const endpoint = otlpTracesEndpoint(env)
  if (endpoint === undefined) return undefined
  const [sdk, exporterModule, resources, conventions] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ])
  const exporter = new exporterModule.OTLPTraceExporter({ url: endpoint })
  const resource = resources
    .defaultResource()
    .merge(resources.detectResources({ detectors: [resources.envDetector] }))
    .merge(
      resources.resourceFromAttributes({
        [conventions.ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME?.trim() || serviceName,
      }),
    )
  const provider = new sdk.BasicTracerProvider({
    resource,
    spanProcessors: [new sdk.BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })],
  })
  return {
    tracer: provider.getTracer('flotilla'),
    endpoint,
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  }
}
