import { Writable } from 'node:stream'
import type { Meter as OtelMeter, Tracer as OtelTracer } from '@opentelemetry/api'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { FlotillaError } from '../../src/core/errors.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { TELEMETRY_NAMES } from '../../src/orchestrator/telemetry-interceptors.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { Logger, Meter, Tracer } from '../../src/telemetry/telemetry.js'
import { noopLogger, resolveTelemetry } from '../../src/telemetry/telemetry.js'
import { workflow } from '../../src/workflows/builder.js'

// The telemetry port takes the standard objects as they are: a pino logger,
// an OpenTelemetry Meter and Tracer (real SDKs here, recording in memory).

/** A pino logger writing JSON lines into an array. */
function pinoLines(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, stream), lines }
}

class InMemoryReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

/** Data points of the named metric as `[attributes, value]`. */
async function points(reader: InMemoryReader, name: string): Promise<[Record<string, unknown>, unknown][]> {
  const { resourceMetrics } = await reader.collect()
  const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)
  return (metric?.dataPoints ?? []).map((d) => [d.attributes, d.value])
}

const flaky = () => {
  let calls = 0
  return defineAgent({
    name: 'flaky',
    handler: () => {
      calls++
      if (calls === 1) throw new FlotillaError('TASK_FAILED', 'first try fails')
      return { calls }
    },
  })
}

describe('telemetry', () => {
  it('takes OpenTelemetry and pino objects as they are (types)', () => {
    const otelMeter: OtelMeter = new MeterProvider().getMeter('x')
    const otelTracer: OtelTracer = new BasicTracerProvider().getTracer('x')
    const meter: Meter = otelMeter
    const tracer: Tracer = otelTracer
    const logger: Logger = pino({ enabled: false })
    expect([meter, tracer, logger].every((x) => typeof x === 'object')).toBe(true)
    expect(resolveTelemetry(undefined)).toMatchObject({ logger: noopLogger, tracing: false })
  })

  it('reports a span per attempt with its outcome, and counts and times attempts by agent and outcome', async () => {
    const exporter = new InMemorySpanExporter()
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
      'flotilla-test',
    )
    const reader = new InMemoryReader()
    const meter = new MeterProvider({ readers: [reader] }).getMeter('flotilla-test')
    const o = new Orchestrator({ store: new MemoryStore(), telemetry: { tracer, meter } })
    await o.register(flaky())
    const result = await o.run(
      workflow('t')
        .task('a', { agent: 'flaky', retry: { maxAttempts: 2, initialDelayMs: 1 } })
        .build(),
    )
    expect(result.state).toBe('SUCCEEDED')
    const spans = exporter.getFinishedSpans().filter((s) => s.name === TELEMETRY_NAMES.span)
    expect(spans.map((s) => [s.name, s.attributes['flotilla.attempt'], s.status.code])).toEqual([
      [TELEMETRY_NAMES.span, 1, 2],
      [TELEMETRY_NAMES.span, 2, 1],
    ])
    expect(spans[0].attributes).toMatchObject({
      'flotilla.run_id': result.runId,
      'flotilla.task_id': 'a',
      'flotilla.agent': 'flaky',
      'flotilla.error_code': 'TASK_FAILED',
    })
    expect(spans[0].events.map((e) => e.name)).toEqual(['exception'])
    expect(await points(reader, TELEMETRY_NAMES.attempts)).toEqual(
      expect.arrayContaining([
        [{ agent: 'flaky@1.0.0', outcome: 'error' }, 1],
        [{ agent: 'flaky@1.0.0', outcome: 'ok' }, 1],
      ]),
    )
    expect((await points(reader, TELEMETRY_NAMES.duration)).length).toBe(2)
    expect(await points(reader, TELEMETRY_NAMES.running)).toEqual([[{ agent: 'flaky@1.0.0' }, 0]])
    await o.close()
  })

  it('reports model calls with the OpenTelemetry GenAI conventions: a dated chat span, token and duration histograms, cost', async () => {
    const exporter = new InMemorySpanExporter()
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
      'flotilla-test',
    )
    const reader = new InMemoryReader()
    const meter = new MeterProvider({ readers: [reader] }).getMeter('flotilla-test')
    const o = new Orchestrator({ store: new MemoryStore(), telemetry: { tracer, meter } })
    const model = scriptedModel([{ text: 'hi', usage: { inputTokens: 1000, outputTokens: 500 }, delayMs: 30 }], {
      modelId: 'm1',
    })
    await o.register(defineLlmAgent({ name: 'talker', model, prices: { 'scripted:m1': { input: 1, output: 2 } } }))
    const result = await o.run(workflow('t').task('a', { agent: 'talker', input: 'hello' }).build())
    expect(result.state).toBe('SUCCEEDED')
    const chat = exporter.getFinishedSpans().find((s) => s.name === 'chat m1')
    expect(chat?.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'scripted',
      'gen_ai.request.model': 'm1',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'gen_ai.response.finish_reasons': 'stop',
      'flotilla.run_id': result.runId,
      'flotilla.task_id': 'a',
      'flotilla.cost_usd': 0.002,
    })
    const ms = (chat!.endTime[0] - chat!.startTime[0]) * 1000 + (chat!.endTime[1] - chat!.startTime[1]) / 1e6
    expect(ms).toBeGreaterThanOrEqual(25)
    const tokens = await points(reader, TELEMETRY_NAMES.tokens)
    expect(tokens.map(([a, v]) => [a['gen_ai.token.type'], (v as { sum: number }).sum])).toEqual(
      expect.arrayContaining([
        ['input', 1000],
        ['output', 500],
      ]),
    )
    expect((await points(reader, TELEMETRY_NAMES.cost))[0][1]).toBeCloseTo(0.002)
    await o.close()
  })

  it('logs a throwing event listener with pino instead of writing to stderr; the other listeners still get the event', async () => {
    const { logger, lines } = pinoLines()
    const o = new Orchestrator({ store: new MemoryStore(), telemetry: { logger } })
    await o.register(defineAgent({ name: 'ok', handler: () => 1 }))
    const seen: string[] = []
    o.on('run.succeeded', () => {
      throw new Error('listener bug')
    })
    o.on('run.succeeded', (e) => seen.push(e.type))
    const stderr: string[] = []
    const write = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write
    try {
      await o.run(workflow('t').task('a', { agent: 'ok' }).build())
    } finally {
      process.stderr.write = write
    }
    expect(seen).toEqual(['run.succeeded'])
    expect(stderr.join('')).not.toContain('listener bug')
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        eventType: 'run.succeeded',
        err: expect.objectContaining({ message: 'listener bug' }),
        msg: expect.stringContaining('event listener threw'),
      }),
    ])
    await o.close()
  })

  it('a worker reports spans too, and its logger lines name the worker', async () => {
    const exporter = new InMemorySpanExporter()
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
      'flotilla-test',
    )
    const { logger, lines } = pinoLines()
    const store = new MemoryStore()
    const worker = new Worker({ store, id: 'w-tel', telemetry: { tracer, logger }, leaseMs: 3_000 })
    await worker.register(defineAgent({ name: 'ok', handler: () => 1 }))
    worker.on('run.succeeded', () => {
      throw new Error('worker listener bug')
    })
    await worker.start()
    const { Client } = await import('../../src/orchestrator/client.js')
    const client = await Client.connect(store)
    const id = await client.start(workflow('t').task('a', { agent: 'ok' }).build())
    expect((await client.result(id, { timeoutMs: 10_000 })).state).toBe('SUCCEEDED')
    await expect.poll(() => lines.length).toBeGreaterThan(0)
    await worker.stop({ drainMs: 100 })
    await client.close()
    expect(exporter.getFinishedSpans().map((s) => [s.name, s.attributes['flotilla.task_id']])).toEqual([
      [TELEMETRY_NAMES.span, 'a'],
    ])
    expect(lines[0]).toMatchObject({ worker: 'w-tel', eventType: 'run.succeeded' })
  }, 20_000)

  it('refuses an unknown telemetry part with VALIDATION_FAILED', () => {
    expect(() => new Orchestrator({ store: 'memory', telemetry: { loger: noopLogger } as never })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringContaining('telemetry') }),
    )
  })
})
