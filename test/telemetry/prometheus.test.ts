// The Prometheus meter: the text exposition of Flotilla's instruments (kept per series, rendered again only
// after a change), the same values through prom-client's own registry, and metrics of one's own in it.
import { Counter as PromCounter, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { prometheusMeter } from '../../src/telemetry/prometheus.js'

/** Sample lines as `name{sorted labels} value`, comments dropped. */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(l)
      if (m === null) throw new Error(`not a sample line: ${l}`)
      const labels = (m[2] ?? '{}').slice(1, -1)
      const sorted = labels === '' ? [] : labels.match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g)!.sort()
      return `${m[1]}{${sorted.join(',')}} ${Number(m[3])}`
    })
    .sort()
}

describe('prometheusMeter', () => {
  it('renders counters, gauges and cumulative histograms with escaped labels and help', async () => {
    const { meter, metrics } = await prometheusMeter()
    const attempts = meter.createCounter('flotilla.task.attempts', { description: 'Attempts\nby agent' })
    const running = meter.createUpDownCounter('flotilla.task.running')
    const duration = meter.createHistogram('flotilla.task.duration', { unit: 'ms' })
    attempts.add(2, { agent: 'a"b\\c', outcome: 'ok' })
    running.add(3, { agent: 'x' })
    running.add(-1, { agent: 'x' })
    duration.record(3, { agent: 'x', outcome: 'ok' }) // 0.003 s
    duration.record(400_000, { agent: 'x', outcome: 'ok' }) // above every bound
    const text = await metrics()
    expect(text).toContain(
      '# HELP flotilla_task_attempts_total Attempts\\nby agent\n# TYPE flotilla_task_attempts_total counter\n',
    )
    expect(text).toContain('flotilla_task_attempts_total{agent="a\\"b\\\\c",outcome="ok"} 2\n')
    expect(text).toContain('flotilla_task_running{agent="x"} 2\n')
    expect(text).toContain('# TYPE flotilla_task_duration_seconds histogram\n')
    const lines = samples(text)
    expect(lines).toContain('flotilla_task_duration_seconds_bucket{agent="x",le="0.001",outcome="ok"} 0')
    expect(lines).toContain('flotilla_task_duration_seconds_bucket{agent="x",le="0.01",outcome="ok"} 1')
    expect(lines).toContain('flotilla_task_duration_seconds_bucket{agent="x",le="300",outcome="ok"} 1')
    expect(lines).toContain('flotilla_task_duration_seconds_bucket{agent="x",le="+Inf",outcome="ok"} 2')
    expect(lines).toContain('flotilla_task_duration_seconds_count{agent="x",outcome="ok"} 2')
    expect(lines).toContain('flotilla_task_duration_seconds_sum{agent="x",outcome="ok"} 400.003')
  })

  it('answers its last text until something is recorded, then only the changed series change', async () => {
    const { meter, metrics } = await prometheusMeter()
    const attempts = meter.createCounter('flotilla.task.attempts')
    for (let i = 0; i < 100; i++) attempts.add(1, { agent: `a${i}`, outcome: 'ok' })
    const first = await metrics()
    expect(await metrics()).toBe(first)
    attempts.add(5, { agent: 'a7', outcome: 'ok' })
    const second = await metrics()
    expect(second).not.toBe(first)
    expect(second).toContain('flotilla_task_attempts_total{agent="a7",outcome="ok"} 6\n')
    expect(second.replace('a7",outcome="ok"} 6', 'a7",outcome="ok"} 1')).toBe(first)
  })

  it('gives prom-client’s registry the same values, and serves metrics of one’s own registered there', async () => {
    const registry = new Registry()
    const { meter, metrics } = await prometheusMeter({ registry })
    const duration = meter.createHistogram('flotilla.task.duration', { unit: 'ms' })
    const cost = meter.createCounter('flotilla.model.cost', { unit: 'USD' })
    duration.record(42, { agent: 'x', outcome: 'ok' })
    duration.record(7, { agent: 'y', outcome: 'error' })
    cost.add(0.25, { 'gen_ai.request.model': 'm', 'flotilla.agent': 'x' })
    expect(samples(await registry.metrics())).toEqual(samples(await metrics()))
    expect(registry.getSingleMetric('flotilla_task_duration_seconds')).toBeDefined()
    const mine = new PromCounter({ name: 'my_jobs_total', help: 'Jobs of mine', registers: [registry] })
    mine.inc(3)
    const text = await metrics()
    expect(text).toContain('# TYPE my_jobs_total counter\nmy_jobs_total 3\n')
    expect(text).toContain('flotilla_model_cost_usd_total{')
    // One instrument per name, as OpenTelemetry: a second orchestrator or worker in the process adds to the same series
    meter
      .createCounter('flotilla.model.cost', { unit: 'USD' })
      .add(1, { 'gen_ai.request.model': 'm', 'flotilla.agent': 'x' })
    expect(samples(await metrics())).toContain(
      'flotilla_model_cost_usd_total{flotilla_agent="x",gen_ai_operation_name="",gen_ai_provider_name="",gen_ai_request_model="m"} 1.25',
    )
  })

  it('reads observable gauges at each scrape, and forgets the series a scrape no longer observes', async () => {
    const { meter, metrics } = await prometheusMeter()
    const depth = meter.createObservableGauge!('flotilla.worker.queue.depth', { unit: '{attempt}' })
    const workers = new Map([
      ['w1', 3],
      ['w2', 0],
    ])
    let reads = 0
    const read = (r: { observe(v: number, a?: Record<string, string>): void }) => {
      reads++
      for (const [worker, n] of workers) r.observe(n, { worker })
    }
    depth.addCallback(read)
    const dead = meter.createObservableGauge!('flotilla.bus.dead_letters')
    dead.addCallback(async (r) => {
      await new Promise((resolve) => setTimeout(resolve, 5)) // an async read (a bus) is awaited
      r.observe(2, { agent: 'a' })
    })
    let lines = samples(await metrics())
    expect(lines).toContain('flotilla_worker_queue_depth{worker="w1"} 3')
    expect(lines).toContain('flotilla_worker_queue_depth{worker="w2"} 0')
    expect(lines).toContain('flotilla_bus_dead_letters{agent="a"} 2')
    workers.set('w1', 7)
    workers.delete('w2')
    lines = samples(await metrics())
    expect(lines).toContain('flotilla_worker_queue_depth{worker="w1"} 7')
    expect(lines.some((l) => l.includes('w2'))).toBe(false)
    expect(reads).toBe(2)
    depth.removeCallback(read)
    expect(samples(await metrics()).some((l) => l.startsWith('flotilla_worker_queue_depth'))).toBe(false)
    expect(reads).toBe(2)
  })

  it('reports model tokens as a counter by model, agent and type, and model call durations by model only', async () => {
    const { meter, metrics } = await prometheusMeter()
    const tokens = meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}' })
    const duration = meter.createHistogram('gen_ai.client.operation.duration', { unit: 's' })
    const call = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-5-mini',
    }
    for (const agent of ['a', 'b']) {
      tokens.record(1200, { ...call, 'flotilla.agent': agent, 'gen_ai.token.type': 'input' })
      tokens.record(300, { ...call, 'flotilla.agent': agent, 'gen_ai.token.type': 'output' })
      duration.record(0.5, { ...call, 'flotilla.agent': agent })
    }
    tokens.record(100, { ...call, 'flotilla.agent': 'a', 'gen_ai.token.type': 'input' })
    const text = await metrics()
    expect(text).toContain('# TYPE flotilla_model_tokens_total counter\n')
    const lines = samples(text)
    const labels = 'gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-5-mini"'
    expect(lines).toContain(`flotilla_model_tokens_total{flotilla_agent="a",${labels},gen_ai_token_type="input"} 1300`)
    expect(lines).toContain(`flotilla_model_tokens_total{flotilla_agent="b",${labels},gen_ai_token_type="output"} 300`)
    expect(lines).toContain(`gen_ai_client_operation_duration_seconds_count{${labels}} 2`)
    expect(text).not.toContain('gen_ai_client_token_usage')
  })
})
