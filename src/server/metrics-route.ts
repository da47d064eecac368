import type { MiddlewareHandler } from 'hono'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { routeLabel } from './route-label.js'
import { FlotillaError } from '../core/errors.js'
import type { Meter } from '../telemetry/telemetry.js'
import type { ServerEnv } from './server-deps.js'

/** Where Prometheus scrapes. */
export const METRICS_PATH = '/metrics'

/**
 * Counts and times every request (`flotilla.http.requests`,
 * `flotilla.http.request.duration`) by method, route pattern (never the raw
 * path, so ids do not make new series) and status.
 */
export function httpMetrics(meter: Meter): MiddlewareHandler<ServerEnv> {
  const requests = meter.createCounter('flotilla.http.requests', {
    description: 'HTTP requests answered, by method, route and status',
    unit: '{request}',
  })
  const duration = meter.createHistogram('flotilla.http.request.duration', {
    description: 'How long HTTP requests took to answer',
    unit: 'ms',
  })
  return async (c, next) => {
    const started = performance.now()
    try {
      await next()
    } finally {
      const route = routeLabel(c)
      const attributes = { method: c.req.method, route, status: String(c.res.status) }
      requests.add(1, attributes)
      duration.record(performance.now() - started, attributes)
    }
  }
}

/** Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*`, with a q-value other than 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false
  let star = false
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase())
    const q = params.find((p) => p.startsWith('q='))
    const accepted = q === undefined || Number(q.slice(2)) > 0
    if (coding === 'gzip' || coding === 'x-gzip') return accepted
    if (coding === '*') star = accepted
  }
  return star
}

/**
 * `GET /metrics`: the Prometheus text exposition of `metrics`. It needs a key
 * that may read runs (ANALYST is the role to give a scraper; OPERATOR,
 * SERVICE and ADMIN keys may too): the series carry agent names, costs and
 * run counts. A scraper that accepts gzip (Prometheus does) gets the text
 * gzipped when `metrics` can give it (`gzipBody()`).
 */
export function mountMetrics(
  app: OpenAPIHono<ServerEnv>,
  authenticate: MiddlewareHandler<ServerEnv>,
  metrics: {
    readonly contentType: string
    metrics(): Promise<string>
    body?(): Promise<Uint8Array<ArrayBuffer>>
    gzipBody?(): Promise<Uint8Array<ArrayBuffer>>
  },
): void {
  app.use(METRICS_PATH, authenticate)
  app.get(METRICS_PATH, async (c) => {
    const principal = c.get('principal')
    if (principal === undefined)
      throw new FlotillaError(
        'AUTH_REQUIRED',
        'GET /metrics needs an API key that may read runs (e.g. an ANALYST key): set it as the bearer token of the scrape job.',
      )
    const deps = c.get('deps')
    const decision = deps.authorizer.decide(principal, { kind: 'run', id: '*' }, 'read')
    if (!decision.allowed)
      throw new FlotillaError(
        'PERMISSION_DENIED',
        `Key "${principal.keyId}" (${principal.role}) may not read metrics: they need "read" on "run:*". Give the scraper an ANALYST key.`,
        { details: { key: principal.keyId, resource: decision.resource, action: 'read', reason: decision.reason } },
      )
    if (metrics.gzipBody !== undefined && acceptsGzip(c.req.header('accept-encoding'))) {
      const headers = { 'Content-Type': metrics.contentType, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' }
      return c.body(await metrics.gzipBody(), 200, headers)
    }
    const body = metrics.body === undefined ? await metrics.metrics() : await metrics.body()
    const headers: Record<string, string> = { 'Content-Type': metrics.contentType }
    if (metrics.gzipBody !== undefined) headers.Vary = 'Accept-Encoding'
    return c.body(body, 200, headers)
  })
}
