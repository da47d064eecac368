// The incremental scrape of the Prometheus meter (each series' bytes kept, only changed series rendered again, the
// kept bytes copied into one buffer) gives, after any sequence of records and scrapes, byte for byte the text that
// prom-client renders from the same values (registry.getSingleMetricAsString of each family, in registration order).
import { gunzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { prometheusMeter } from '../../src/telemetry/prometheus.js'

/** Label values, with those the format escapes (quote, backslash, newline) and non-ASCII. */
const agent = fc.constantFrom('a', 'b@1.0.0', 'q"uote', 'back\\slash', 'new\nline', 'émoji 🚀', '')
const outcome = fc.constantFrom('ok', 'error')
const value = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true })
const op = fc.oneof(
  fc.record({
    kind: fc.constant('count' as const),
    agent,
    outcome,
    value: fc.double({ min: 0, max: 1e6, noNaN: true }),
  }),
  fc.record({ kind: fc.constant('running' as const), agent, value }),
  fc.record({
    kind: fc.constant('duration' as const),
    agent,
    outcome,
    value: fc.double({ min: 0, max: 1e7, noNaN: true }),
  }),
  fc.record({ kind: fc.constant('depth' as const), worker: agent, value: fc.option(value) }),
  fc.record({ kind: fc.constant('scrape' as const) }),
)

describe('prometheusMeter, incremental scrape', () => {
  it('renders byte for byte what prom-client renders of the same values, after any records and scrapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const prometheus = await prometheusMeter({ gzip: true })
        const { meter, registry } = prometheus
        const attempts = meter.createCounter('flotilla.task.attempts', {
          description: 'Attempts\nby "agent" \\ outcome',
        })
        const running = meter.createUpDownCounter('flotilla.task.running')
        const duration = meter.createHistogram('flotilla.task.duration', { unit: 'ms' })
        const depths = new Map<string, number>()
        meter.createObservableGauge!('flotilla.worker.queue.depth').addCallback((r) => {
          for (const [worker, n] of depths) r.observe(n, { worker })
        })
        const check = async () => {
          const text = await prometheus.metrics() // reads the gauges, as a scrape does
          const families = registry.getMetricsAsArray()
          const rendered = await Promise.all(families.map((m) => registry.getSingleMetricAsString(m.name)))
          const expected = rendered.map((t) => `${t}\n`).join('')
          expect(text).toBe(expected)
          expect(Buffer.from(await prometheus.body()).equals(Buffer.from(expected))).toBe(true)
          expect(gunzipSync(await prometheus.gzipBody!()).toString('utf8')).toBe(expected)
        }
        for (const o of ops) {
          if (o.kind === 'count') attempts.add(o.value, { agent: o.agent, outcome: o.outcome })
          else if (o.kind === 'running') running.add(o.value, { agent: o.agent })
          else if (o.kind === 'duration') duration.record(o.value, { agent: o.agent, outcome: o.outcome })
          else if (o.kind === 'depth') {
            if (o.value === null) depths.delete(o.worker)
            else depths.set(o.worker, o.value)
          } else await check()
        }
        await check()
      }),
      { numRuns: 150 },
    )
  })

  it('gives the same bytes to two scrapes with nothing recorded in between, and new bytes after a record', async () => {
    const prometheus = await prometheusMeter({ gzip: true })
    const attempts = prometheus.meter.createCounter('flotilla.task.attempts')
    attempts.add(1, { agent: 'a', outcome: 'ok' })
    const body = await prometheus.body()
    const gzipped = await prometheus.gzipBody!()
    expect(await prometheus.body()).toBe(body)
    expect(await prometheus.gzipBody!()).toBe(gzipped)
    attempts.add(1, { agent: 'a', outcome: 'ok' })
    const after = await prometheus.body()
    expect(after).not.toBe(body)
    expect(Buffer.from(after).toString()).toContain('flotilla_task_attempts_total{agent="a",outcome="ok"} 2\n')
    expect(gunzipSync(await prometheus.gzipBody!()).equals(Buffer.from(after))).toBe(true)
  })

  it('has no gzipped body unless asked for', async () => {
    expect((await prometheusMeter()).gzipBody).toBeUndefined()
  })
})
