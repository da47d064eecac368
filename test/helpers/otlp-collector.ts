import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One span as an OTLP/HTTP JSON export carries it (ids in hex). */
export interface CollectedSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  attributes: Record<string, unknown>
  /** `service.name` of the resource that sent it. */
  service: string
}

interface AnyValue {
  stringValue?: string
  intValue?: string | number
  doubleValue?: number
  boolValue?: boolean
}

function value(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  return v.boolValue
}

type KeyValues = { key: string; value: AnyValue }[] | undefined
const toRecord = (kv: KeyValues): Record<string, unknown> =>
  Object.fromEntries((kv ?? []).map(({ key, value: v }) => [key, value(v)]))

/**
 * A stand-in for an OpenTelemetry collector: an HTTP server taking
 * `POST /v1/traces` in the OTLP/HTTP JSON encoding and keeping the spans.
 */
export async function otlpCollector(): Promise<{
  url: string
  spans: CollectedSpan[]
  requests: { path: string; contentType: string | undefined }[]
  close(): Promise<void>
}> {
  const spans: CollectedSpan[] = []
  const requests: { path: string; contentType: string | undefined }[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ path: req.url ?? '', contentType: req.headers['content-type'] })
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end()
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: {
          resource?: { attributes?: KeyValues }
          scopeSpans?: {
            spans?: {
              traceId: string
              spanId: string
              parentSpanId?: string
              name: string
              attributes?: KeyValues
            }[]
          }[]
        }[]
      }
      for (const rs of body.resourceSpans ?? []) {
        const service = String(toRecord(rs.resource?.attributes)['service.name'])
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              attributes: toRecord(s.attributes),
              service,
            })
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}
