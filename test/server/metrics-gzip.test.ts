// GET /metrics gzipped for a scraper that accepts gzip (as Prometheus does) when the meter was made with
// { gzip: true }, plain otherwise; and how an Accept-Encoding header is read.
import { request } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { acceptsGzip } from '../../src/server/metrics-route.js'
import { startServer } from '../../src/server/serve.js'
import { prometheusMeter } from '../../src/telemetry/prometheus.js'

/** GET `url` with raw headers (no automatic decompression, unlike fetch): status, headers and body bytes. */
function get(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
    })
      .on('error', reject)
      .end()
  })
}

describe('GET /metrics, gzip', () => {
  it('reads Accept-Encoding: gzip or *, unless its q-value is 0', () => {
    expect(acceptsGzip(undefined)).toBe(false)
    expect(acceptsGzip('gzip')).toBe(true)
    expect(acceptsGzip('identity, GZip;q=0.5')).toBe(true)
    expect(acceptsGzip('gzip;q=0, *')).toBe(false)
    expect(acceptsGzip('br, *;q=0.1')).toBe(true)
    expect(acceptsGzip('deflate, br')).toBe(false)
    expect(acceptsGzip('*;q=0')).toBe(false)
  })

  for (const gzip of [true, false])
    it(`sends the text ${gzip ? 'gzipped' : 'plain'} to a scraper that accepts gzip with { gzip: ${gzip} }`, async () => {
      const metrics = await prometheusMeter({ gzip })
      metrics.meter.createCounter('flotilla.task.attempts').add(2, { agent: 'a', outcome: 'ok' })
      let admin = ''
      const server = await startServer({ store: 'memory', port: 0, metrics, onAdminKey: (k) => (admin = k) })
      try {
        const authorization = `Bearer ${admin}`
        const zipped = await get(`${server.url}/metrics`, { authorization, 'accept-encoding': 'gzip' })
        expect(zipped.status).toBe(200)
        expect(zipped.headers['content-encoding']).toBe(gzip ? 'gzip' : undefined)
        const text = (gzip ? gunzipSync(zipped.body) : zipped.body).toString('utf8')
        expect(text).toContain('flotilla_task_attempts_total{agent="a",outcome="ok"} 2\n')
        const plain = await get(`${server.url}/metrics`, { authorization })
        expect(plain.headers['content-encoding']).toBeUndefined()
        expect(plain.body.toString('utf8')).toContain('flotilla_task_attempts_total{agent="a",outcome="ok"} 2\n')
        expect(plain.headers['content-type']).toBe(metrics.contentType)
      } finally {
        await server.close()
      }
    })
})
