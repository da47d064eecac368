// What an Orchestrator (the in-process engine) reports to a Prometheus meter beyond attempts: its queue depth,
// the circuit states of its agents, and how long its store commits take, on SQLite and PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { openBackend } from '../../src/orchestrator/backend.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { prometheusMeter } from '../../src/telemetry/prometheus.js'
import { workflow } from '../../src/workflows/builder.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

/** The sample lines of a scrape, as `name{labels} value`. */
const lines = (text: string) => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))
const value = (text: string, series: string) => {
  const line = lines(text).find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-engine-metrics-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('an Orchestrator with a Prometheus meter', () => {
  it('reports its queue depth while attempts wait for a slot, circuit states and SQLite commit times', async () => {
    const prometheus = await prometheusMeter()
    const orchestrator = new Orchestrator({
      store: join(dir, 'runs.db'),
      concurrency: 1,
      telemetry: { meter: prometheus.meter },
    })
    const gates: (() => void)[] = []
    await orchestrator.register(
      defineAgent({ name: 'gate', handler: () => new Promise<number>((resolve) => gates.push(() => resolve(1))) }),
    )
    await orchestrator.register(
      defineAgent({
        name: 'bad',
        handler: () => {
          throw new Error('no')
        },
      }),
    )
    const wf = workflow('three').task('a', { agent: 'gate' }).task('b', { agent: 'gate' }).task('c', { agent: 'gate' })
    const handle = await orchestrator.start(wf.build())
    while (gates.length === 0) await new Promise((r) => setTimeout(r, 5))
    // One attempt runs (concurrency 1); the two others wait in the ready queue
    expect(value(await prometheus.metrics(), 'flotilla_worker_queue_depth{worker="orchestrator"}')).toBe(2)
    for (let released = 0; released < 3; released++) {
      while (gates.length === 0) await new Promise((r) => setTimeout(r, 5))
      gates.shift()!()
    }
    expect((await handle.result).state).toBe('SUCCEEDED')
    await orchestrator.run(
      workflow('bad')
        .task('x', { agent: 'bad', retry: { maxAttempts: 5, initialDelayMs: 1 } })
        .build(),
    )
    const text = await prometheus.metrics()
    expect(value(text, 'flotilla_worker_queue_depth{worker="orchestrator"}')).toBe(0)
    expect(value(text, 'flotilla_circuit_state{agent="gate@1.0.0",state="closed"}')).toBe(1)
    expect(value(text, 'flotilla_circuit_state{agent="bad@1.0.0",state="open"}')).toBe(1)
    expect(value(text, 'flotilla_circuit_state{agent="bad@1.0.0",state="closed"}')).toBe(0)
    // Every state change went through a timed commit: at least the run's creation, start and end
    expect(
      value(text, 'flotilla_store_commit_duration_seconds_count{store="sqlite",path="runs"}'),
    ).toBeGreaterThanOrEqual(3)
    expect(value(text, 'flotilla_store_commit_duration_seconds_bucket{store="sqlite",path="runs",le="+Inf"}')).toBe(
      value(text, 'flotilla_store_commit_duration_seconds_count{store="sqlite",path="runs"}'),
    )
    await orchestrator.close()
    // Closed: its gauges are no longer read
    expect(lines(await prometheus.metrics()).some((l) => l.startsWith('flotilla_worker_queue_depth'))).toBe(false)
  })
})

await describePostgres('an Orchestrator on PostgreSQL with a Prometheus meter', () => {
  it('times its store commits', async () => {
    await withFreshSchema(async (url) => {
      const prometheus = await prometheusMeter()
      const backend = await openBackend(url)
      const orchestrator = new Orchestrator({ backend, telemetry: { meter: prometheus.meter } })
      try {
        await orchestrator.register(defineAgent({ name: 'double', handler: (n: number) => n * 2 }))
        const wf = workflow('pg').task('a', { agent: 'double', input: 1 }).task('b', { agent: 'double', input: 2 })
        expect((await orchestrator.run(wf.build())).state).toBe('SUCCEEDED')
        const text = await prometheus.metrics()
        const count = value(text, 'flotilla_store_commit_duration_seconds_count{store="postgres",path="runs"}')
        expect(count).toBeGreaterThanOrEqual(3)
        expect(value(text, 'flotilla_store_commit_duration_seconds_sum{store="postgres",path="runs"}')).toBeGreaterThan(
          0,
        )
      } finally {
        await orchestrator.close()
        await backend.close()
      }
    })
  })
})
