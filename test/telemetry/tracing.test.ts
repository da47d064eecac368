import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { newAgentId } from '../../src/core/ids.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Client } from '../../src/orchestrator/client.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { Worker } from '../../src/orchestrator/worker.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { parseTraceparent, traceContextOf, traceparentOf } from '../../src/telemetry/trace-context.js'
import { workflow } from '../../src/workflows/builder.js'
import { ROOT } from '../cli/run-cli.js'
import { recordingHooks } from '../contract/runtime.contract.js'
import { memoryTracer, named, parentOf } from '../helpers/memory-tracer.js'
import { otlpCollector } from '../helpers/otlp-collector.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

describe('trace context', () => {
  it('reads and writes W3C traceparent headers, refusing malformed and all-zero ids', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(parseTraceparent(tp)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    })
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined()
    expect(parseTraceparent('garbage')).toBeUndefined()
    expect(traceContextOf('garbage')).toBeUndefined()
    const { tracer, exporter } = memoryTracer()
    const child = tracer.startSpan('child', {}, traceContextOf(tp))
    child.end()
    expect(exporter.getFinishedSpans()[0].spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(exporter.getFinishedSpans()[0].parentSpanContext?.spanId).toBe('00f067aa0ba902b7')
    expect(traceparentOf(child)).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${child.spanContext().spanId}-01`)
  })
})

describe('spans of a run in one process', () => {
  it('a run span is the root; attempts, model calls and spans a handler starts hang under it', async () => {
    const { tracer, exporter } = memoryTracer()
    const o = new Orchestrator({ store: 'memory', telemetry: { tracer } })
    const model = scriptedModel([{ text: 'hi', usage: { inputTokens: 10, outputTokens: 5 } }], { modelId: 'm1' })
    await o.register(defineLlmAgent({ name: 'talker', model }))
    await o.register(
      defineAgent({
        name: 'worker',
        handler: (_: unknown, ctx) => {
          ctx.trace?.startSpan('my.step').end()
          return ctx.trace?.traceparent ?? null
        },
      }),
    )
    const result = await o.run(
      workflow('traced')
        .task('talk', { agent: 'talker', input: 'hello' })
        .task('work', { agent: 'worker', dependsOn: ['talk'] })
        .build(),
    )
    expect(result.state).toBe('SUCCEEDED')
    await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === 'flotilla.run')).toBe(true)
    const spans = exporter.getFinishedSpans()
    const run = named(spans, 'flotilla.run')
    expect(run.parentSpanContext).toBeUndefined()
    expect(run.attributes).toMatchObject({ 'flotilla.run_id': result.runId, 'flotilla.workflow': 'traced' })
    expect(run.status.code).toBe(1)
    const talk = named(spans, 'flotilla.task', 'talk')
    const work = named(spans, 'flotilla.task', 'work')
    expect([parentOf(talk), parentOf(work)]).toEqual([run.spanContext().spanId, run.spanContext().spanId])
    const chat = named(spans, 'chat m1')
    expect(parentOf(chat)).toBe(talk.spanContext().spanId)
    expect(chat.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 10 })
    expect(parentOf(named(spans, 'my.step'))).toBe(work.spanContext().spanId)
    expect(result.output('work')).toBe(traceparentOf(work))
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1)
    // The run record keeps the run span's traceparent, for workers elsewhere.
    expect((await o.getRun(result.runId)).traceParent).toBe(traceparentOf(run))
    await o.close()
  })

  it('without a tracer nothing is traced: ctx.trace is undefined and no traceparent is stored', async () => {
    const o = new Orchestrator({ store: 'memory' })
    await o.register(defineAgent({ name: 'peek', handler: (_: unknown, ctx) => ctx.trace === undefined }))
    const result = await o.run(workflow('plain').task('a', { agent: 'peek' }).build())
    expect(result.output('a')).toBe(true)
    expect((await o.getRun(result.runId)).traceParent).toBeUndefined()
    await o.close()
  })
})

describe('one trace across workers and an agent process', () => {
  let dir: string
  let runtime: ProcessRuntime | undefined
  beforeAll(() => ensureFreshBuild(), 120_000)
  afterEach(async () => {
    await runtime?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a run submitted by a client, run by two workers on one SQLite file, one task in an agent process', async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-trace-'))
    const store = join(dir, 'flotilla.db')
    const collector = await otlpCollector()
    const { tracer, exporter } = memoryTracer()
    runtime = new ProcessRuntime({ entry: CHILD_ENTRY, forwardStderr: false })
    const instanceId = newAgentId()
    const handle = await runtime.deploy(
      {
        instanceId,
        name: 'traced',
        module: join(ROOT, 'test/fixtures/agents/traced.mjs'),
        exportName: 'default',
        tools: [],
        permissions: [],
        limits: {},
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: 'agent-process' },
        workspace: join(dir, instanceId),
      },
      recordingHooks().hooks,
    )
    const local = new Worker({ store, id: 'w-local', telemetry: { tracer }, leaseMs: 3_000, pollMs: 20 })
    await local.register(defineAgent({ name: 'local', handler: (n: number) => n + 1 }))
    const remote = new Worker({ store, id: 'w-remote', telemetry: { tracer }, leaseMs: 3_000, pollMs: 20 })
    await remote.register(
      defineAgent({
        name: 'remote',
        handler: (input: unknown, ctx) =>
          handle.execute(input, {
            signal: ctx.signal,
            runId: ctx.runId,
            taskId: ctx.taskId,
            attempt: ctx.attempt,
            ...(ctx.trace === undefined ? {} : { traceparent: ctx.trace.traceparent }),
          }),
      }),
    )
    await local.start()
    await remote.start()
    const client = await Client.connect(store, { tracer })
    try {
      const id = await client.start(
        workflow('spread')
          .task('a', { agent: 'local', input: 1 })
          .task('b', { agent: 'remote', input: 'x', dependsOn: ['a'] })
          .task('c', { agent: 'local', input: 2, dependsOn: ['b'] })
          .build(),
      )
      expect((await client.result(id, { timeoutMs: 30_000 })).state).toBe('SUCCEEDED')
      await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === 'flotilla.run')).toBe(true)
      await expect.poll(() => collector.spans.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2)
      const spans = exporter.getFinishedSpans()
      const run = named(spans, 'flotilla.run')
      const traceId = run.spanContext().traceId
      const tasks = ['a', 'b', 'c'].map((t) => named(spans, 'flotilla.task', t))
      expect(tasks.map((t) => [t.spanContext().traceId, parentOf(t)])).toEqual(
        tasks.map(() => [traceId, run.spanContext().spanId]),
      )
      // Two workers ran them: the local agent's tasks and the remote one's in different ones.
      expect(new Set(tasks.map((t) => t.attributes['flotilla.agent']))).toEqual(new Set(['local', 'remote']))
      const execute = collector.spans.find((s) => s.name === 'flotilla.agent.execute')
      const work = collector.spans.find((s) => s.name === 'traced.work')
      expect(execute).toMatchObject({ traceId, parentSpanId: tasks[1].spanContext().spanId, service: 'agent-process' })
      expect(work).toMatchObject({ traceId, parentSpanId: execute?.spanId })
      expect(collector.requests.every((r) => r.contentType?.startsWith('application/json'))).toBe(true)
    } finally {
      await local.stop({ drainMs: 100 })
      await remote.stop({ drainMs: 100 })
      await client.close()
      await collector.close()
    }
  }, 60_000)
})
