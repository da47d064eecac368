// The scraper of bench/metrics.mjs --http, in a process of its own: on each message, GET <url>/metrics with the
// given authorization, read the whole body as bytes, answer { ms, bytes } (or { error }). With a third argument
// `gzip` it sends `Accept-Encoding: gzip` (as Prometheus does) and gunzips a gzipped body (bytes are the text's).
import { get } from 'node:http'
import { gunzipSync } from 'node:zlib'

const [url, authorization, encoding] = process.argv.slice(2)
const headers = encoding === 'gzip' ? { authorization, 'accept-encoding': 'gzip' } : { authorization }
process.on('message', () => {
  const t = performance.now()
  const chunks = []
  get(`${url}/metrics`, { headers }, (res) => {
    if (res.statusCode !== 200) process.send({ error: `GET /metrics answered ${res.statusCode}` })
    res.on('data', (chunk) => chunks.push(chunk))
    res.on('end', () => {
      const body = Buffer.concat(chunks)
      const text = res.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body
      process.send({ ms: performance.now() - t, bytes: text.length, sent: body.length })
    })
  }).on('error', (e) => process.send({ error: e.message }))
})
