// The scraper of bench/metrics.mjs --http, in a process of its own: on each message, GET <url>/metrics with the
// given authorization, read the whole body as bytes, answer { ms, bytes } (or { error }).
import { get } from 'node:http'

const [url, authorization] = process.argv.slice(2)
process.on('message', () => {
  const t = performance.now()
  let bytes = 0
  get(`${url}/metrics`, { headers: { authorization } }, (res) => {
    if (res.statusCode !== 200) process.send({ error: `GET /metrics answered ${res.statusCode}` })
    res.on('data', (chunk) => (bytes += chunk.length))
    res.on('end', () => process.send({ ms: performance.now() - t, bytes }))
  }).on('error', (e) => process.send({ error: e.message }))
})
