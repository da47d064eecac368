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
    expect(() => meter.createCounter('flotilla.model.cost', { unit: 'USD' }).add(1, {})).toThrow(
      /already been registered/,
    )
  })
})
