// How long GET /metrics takes to render with the series of many agents, with `writes` records (attempts of
// random agents: a counter, a histogram, tokens and cost each) between two scrapes, as on a busy server, and
// with none. `node bench/metrics.mjs [agents] [scrapes] [writes]` after `npm run build`.
import { prometheusMeter } from '../dist/index.js'

const agents = Number(process.argv[2] ?? 1000)
const scrapes = Number(process.argv[3] ?? 30)
const writes = Number(process.argv[4] ?? 1000)
const { meter, metrics } = await prometheusMeter()
const attempts = meter.createCounter('flotilla.task.attempts', { unit: '{attempt}' })
const duration = meter.createHistogram('flotilla.task.duration', { unit: 'ms' })
const running = meter.createUpDownCounter('flotilla.task.running', { unit: '{attempt}' })
const retries = meter.createCounter('flotilla.task.retries', { unit: '{attempt}' })
const tokens = meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}' })
const cost = meter.createCounter('flotilla.model.cost', { unit: 'USD' })
for (let i = 0; i < agents; i++) {
  const agent = `agent-${i}@1.0.0`
  for (const outcome of ['ok', 'error']) {
    attempts.add(3, { agent, outcome })
    duration.record(10 + (i % 500), { agent, outcome })
  }
  running.add(1, { agent })
  retries.add(1, { agent })
  const model = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-5-mini',
    'flotilla.agent': `agent-${i}`,
  }
  tokens.record(1200, { ...model, 'gen_ai.token.type': 'input' })
  tokens.record(300, { ...model, 'gen_ai.token.type': 'output' })
  cost.add(0.002, model)
}
function busy() {
  for (let w = 0; w < writes; w++) {
    const i = Math.floor(Math.random() * agents)
    const agent = `agent-${i}@1.0.0`
    const outcome = w % 10 === 0 ? 'error' : 'ok'
    attempts.add(1, { agent, outcome })
    duration.record(Math.random() * 2000, { agent, outcome })
    const model = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-5-mini',
      'flotilla.agent': `agent-${i}`,
    }
    tokens.record(1000 + w, { ...model, 'gen_ai.token.type': 'input' })
    cost.add(0.001, model)
  }
}
let text = ''
async function measure(between) {
  const times = []
  for (let i = 0; i < scrapes; i++) {
    between()
    const t = performance.now()
    text = await metrics()
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1)
  return `median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms`
}
await metrics() // the first scrape renders every series
const busyFigures = await measure(busy)
const idleFigures = await measure(() => undefined)
const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length
console.log(
  `${agents} agents: ${series} series, ${(text.length / 1024).toFixed(0)} KiB; ${scrapes} scrapes each\n` +
    `  ${writes} records between scrapes: ${busyFigures}\n` +
    `  nothing recorded between scrapes: ${idleFigures}`,
)
