// How long a Prometheus scrape takes with the series of many agents: `metrics()` (the text GET /metrics sends)
// and, with --http, GET /metrics of `flotilla serve` over loopback (authenticated, the whole body read).
// Each agent has what Flotilla reports per agent: task attempts and durations by outcome, attempts running,
// retries, model tokens and cost, its circuit state; model call durations are by model. Measured with
// `writes` records (attempts of random agents: a counter, a histogram, tokens and cost each) between two
// scrapes, as on a busy server, and with none. Wall time and the process's CPU time per scrape (CPU time
// moves less when other processes share the cores). With --gzip (and --http) the scraper accepts gzip, as
// Prometheus does, and gunzips the body; the meter is made with { gzip: true }: the server sends it gzipped.
// `node bench/metrics.mjs [agents] [scrapes] [writes] [--http] [--gzip]` after `npm run build`.
import { get } from 'node:http'
import { prometheusMeter } from '../dist/index.js'

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const http = process.argv.includes('--http')
const gzip = process.argv.includes('--gzip')
const agents = Number(args[0] ?? 1000)
const scrapes = Number(args[1] ?? 30)
const writes = Number(args[2] ?? 1000)
const prometheus = await prometheusMeter({ gzip })
const { meter } = prometheus
const attempts = meter.createCounter('flotilla.task.attempts', { unit: '{attempt}' })
const duration = meter.createHistogram('flotilla.task.duration', { unit: 'ms' })
const running = meter.createUpDownCounter('flotilla.task.running', { unit: '{attempt}' })
const retries = meter.createCounter('flotilla.task.retries', { unit: '{attempt}' })
const tokens = meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}' })
const modelDuration = meter.createHistogram('gen_ai.client.operation.duration', { unit: 's' })
const cost = meter.createCounter('flotilla.model.cost', { unit: 'USD' })
const circuits = new Array(agents).fill('closed')
meter.createObservableGauge?.('flotilla.circuit.state').addCallback((r) => {
  for (let i = 0; i < agents; i++)
    for (const state of ['closed', 'half_open', 'open'])
      r.observe(circuits[i] === state ? 1 : 0, { agent: `agent-${i}@1.0.0`, state })
})
meter.createObservableGauge?.('flotilla.worker.queue.depth').addCallback((r) => r.observe(7, { worker: 'w1' }))
const modelOf = (i) => ({
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'gpt-5-mini',
  'flotilla.agent': `agent-${i}`,
})
for (let i = 0; i < agents; i++) {
  const agent = `agent-${i}@1.0.0`
  for (const outcome of ['ok', 'error']) {
    attempts.add(3, { agent, outcome })
    duration.record(10 + (i % 500), { agent, outcome })
  }
  running.add(1, { agent })
  retries.add(1, { agent })
  const model = modelOf(i)
  tokens.record(1200, { ...model, 'gen_ai.token.type': 'input' })
  tokens.record(300, { ...model, 'gen_ai.token.type': 'output' })
  modelDuration.record(1.5, model)
  cost.add(0.002, model)
}
function busy() {
  for (let w = 0; w < writes; w++) {
    const i = Math.floor(Math.random() * agents)
    const agent = `agent-${i}@1.0.0`
    const outcome = w % 10 === 0 ? 'error' : 'ok'
    attempts.add(1, { agent, outcome })
    duration.record(Math.random() * 2000, { agent, outcome })
    const model = modelOf(i)
    tokens.record(1000 + w, { ...model, 'gen_ai.token.type': 'input' })
    modelDuration.record(Math.random() * 10, model)
    cost.add(0.001, model)
  }
  circuits[Math.floor(Math.random() * agents)] = Math.random() < 0.5 ? 'open' : 'closed'
}

let server
let headers
if (http) {
  const { startServer } = await import('../dist/server.js')
  let admin = ''
  server = await startServer({ store: 'memory', port: 0, metrics: prometheus, onAdminKey: (k) => (admin = k) })
  headers = { authorization: `Bearer ${admin}` }
}
let text = ''
// Over HTTP the scraper is another process (as Prometheus is): it GETs /metrics when told, reads the whole
// body as bytes and answers its wall time; the CPU time is this (the server's) process's.
let scraper
let lastBytes = 0
let lastSent = 0
if (http) {
  const { fork } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  scraper = fork(fileURLToPath(new URL('./metrics-scraper.mjs', import.meta.url)), [
    server.url,
    headers.authorization,
    ...(gzip ? ['gzip'] : []),
  ])
}
let pending
const scrape = http
  ? () =>
      new Promise((resolve, reject) => {
        pending = { resolve, reject }
        scraper.send('scrape')
      })
  : async () => {
      text = await prometheus.metrics()
    }
scraper?.on('message', (m) => {
  if (m.error !== undefined) return pending.reject(new Error(m.error))
  lastBytes = m.bytes
  lastSent = m.sent
  pending.resolve(m.ms)
})

async function measure(between) {
  const wall = []
  const cpu = []
  for (let i = 0; i < scrapes; i++) {
    between()
    const c = process.cpuUsage()
    const t = performance.now()
    const theirs = await scrape()
    wall.push(theirs ?? performance.now() - t)
    const used = process.cpuUsage(c)
    cpu.push((used.user + used.system) / 1000)
  }
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(1)
  return `wall median ${q(wall, 0.5)} ms, p90 ${q(wall, 0.9)} ms; CPU median ${q(cpu, 0.5)} ms, p90 ${q(cpu, 0.9)} ms`
}
await scrape() // the first scrape renders every series
const busyFigures = await measure(busy)
const idleFigures = await measure(() => undefined)
if (http) text = await prometheus.metrics()
const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length
const load = (await import('node:os')).loadavg().map((l) => l.toFixed(1))
console.log(
  `${agents} agents${http ? `, GET /metrics over HTTP${gzip ? ' (gzip)' : ''}` : ', metrics()'}: ${series} series, ` +
    `${(text.length / 1024).toFixed(0)} KiB${http ? ` (${(lastSent / 1024).toFixed(0)} KiB sent)` : ''}; ` +
    `${scrapes} scrapes each; load average ${load.join(' ')}\n` +
    `  ${writes} records between scrapes: ${busyFigures}\n` +
    `  nothing recorded between scrapes: ${idleFigures}`,
)
scraper?.disconnect()
await server?.close()
