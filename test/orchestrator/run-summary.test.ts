import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LanguageModelV3CallOptions } from '@ai-sdk/provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { RunEvent } from '../../src/core/events.js'
import { openBackend } from '../../src/orchestrator/backend.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { Client } from '../../src/orchestrator/client.js'
import { Worker } from '../../src/orchestrator/worker.js'
import type { RunId } from '../../src/core/ids.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import type { Store } from '../../src/store/store.js'
import { registerProvider } from '../../src/models/providers.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { workflow } from '../../src/workflows/builder.js'
import type { WorkflowSpec } from '../../src/workflows/spec.js'
import { describePostgres, withFreshSchema } from '../helpers/postgres.js'

const double = defineAgent({ name: 'double', handler: (n: number) => n * 2 })
const boom = defineAgent({
  name: 'boom',
  handler: () => {
    throw new Error('the sensor is offline')
  },
})

/** What the summary model was asked, for checking the prompt. */
function recordingModel(text: string, usage = { inputTokens: 1_000, outputTokens: 100 }) {
  const calls: LanguageModelV3CallOptions[] = []
  const model = scriptedModel(
    [
      (call) => {
        calls.push(call)
        return { text, usage }
      },
    ],
    { repeatLast: true, modelId: 'summariser' },
  )
  return { model, calls }
}

const userText = (call: LanguageModelV3CallOptions): string =>
  call.prompt
    .filter((m) => m.role === 'user')
    .flatMap((m) => (m.role === 'user' ? m.content : []))
    .map((p) => (p.type === 'text' ? p.text : ''))
    .join('')

/** The summary behaviour every store must show. */
function summaryCases(name: string, open: (fn: (store: string) => Promise<void>) => Promise<void>): void {
  describe(`run summary on ${name}`, () => {
    it('writes the summary of a run that succeeded, stores it with the run and counts its cost', async () => {
      await open(async (store) => {
        const { model, calls } = recordingModel('Doubled 21 into 42.')
        const o = new Orchestrator({ store, summaryModel: model })
        try {
          await o.register(double)
          const events: RunEvent[] = []
          const wf = workflow('doubling')
            .task('a', { agent: 'double', input: 21 })
            .summary({ prices: { 'scripted:summariser': { input: 2, output: 8 } } })
            .build()
          const result = await o.start(wf, undefined, { onEvent: (e) => void events.push(e) }).result
          expect(result.state).toBe('SUCCEEDED')
          expect(calls).toHaveLength(1)
          expect(userText(calls[0])).toContain('- a [SUCCEEDED] output: 42')
          const costUsd = (1_000 * 2 + 100 * 8) / 1_000_000
          expect(result.writtenSummary).toMatchObject({
            text: 'Doubled 21 into 42.',
            model: 'scripted:summariser',
            spend: { calls: 1, inputTokens: 1_000, outputTokens: 100, costUsd },
          })
          // Counted in the run's model spend (no agent of this run calls a model).
          expect(result.summary.model).toMatchObject({ calls: 1, costUsd })
          const stored = await o.getRun(result.runId)
          expect(stored.summary).toEqual(result.writtenSummary)
          const types = (await o.store.listEvents(result.runId)).map((e) => e.event.type)
          expect(types.slice(-2)).toEqual(['run.succeeded', 'run.summarized'])
          expect(events.map((e) => e.type)).toContain('run.summarized')
        } finally {
          await o.close()
        }
      })
    }, 30_000)

    it('summarises a failed run with the error, and a failing summary model never fails the run', async () => {
      await open(async (store) => {
        const { model, calls } = recordingModel('The sensor was offline.')
        const o = new Orchestrator({ store, summaryModel: model })
        try {
          await o.register(boom)
          const failed = await o.run({ name: 'probe', summary: true, tasks: [{ id: 'read', agent: 'boom' }] })
          expect(failed.state).toBe('FAILED')
          expect(userText(calls[0])).toContain('the sensor is offline')
          expect(failed.writtenSummary?.text).toBe('The sensor was offline.')

          const broken = scriptedModel([{ error: { status: 500, message: 'provider down' } }], { repeatLast: true })
          const spec: WorkflowSpec = {
            name: 'doubling',
            summary: true,
            tasks: [{ id: 'a', agent: 'double', input: 2 }],
          }
          const o2 = new Orchestrator({ backend: await openBackend(store), summaryModel: broken })
          try {
            await o2.register(double)
            const ok = await o2.run(spec)
            expect(ok.state).toBe('SUCCEEDED')
            expect(ok.output('a')).toBe(4)
            expect(ok.writtenSummary).toBeUndefined()
            const record = await o2.getRun(ok.runId)
            expect(record.state).toBe('SUCCEEDED')
            expect(record.summary).toBeUndefined()
            const last = (await o2.store.listEvents(ok.runId)).at(-1)?.event
            expect(last?.type).toBe('run.summary_failed')
            expect(last?.type === 'run.summary_failed' && last.error.message).toContain('provider down')
          } finally {
            await o2.close()
          }
        } finally {
          await o.close()
        }
      })
    }, 30_000)
  })
}

describe('run summary: validation', () => {
  it('refuses a workflow asking for a summary without any model, before anything is stored', async () => {
    const o = new Orchestrator({ store: 'memory' })
    try {
      await o.register(double)
      const wf = workflow('doubling').task('a', { agent: 'double', input: 1 }).summary().build()
      expect(() => o.start(wf)).toThrow(expect.objectContaining({ code: 'SUMMARY_MODEL_MISSING' }))
      expect(await o.listRuns()).toHaveLength(0)
      // A workflow naming a model of an unknown provider: MODEL_INVALID, also before the run starts.
      expect(() =>
        o.start({ name: 'x', summary: { model: 'nowhere:m' }, tasks: [{ id: 'a', agent: 'double', input: 1 }] }),
      ).toThrow(expect.objectContaining({ code: 'MODEL_INVALID' }))
      await expect(
        o.run({ name: 'x', summary: { maxTokens: -1 }, tasks: [{ id: 'a', agent: 'double', input: 1 }] }),
      ).rejects.toMatchObject({ code: 'WORKFLOW_INVALID' })
    } finally {
      await o.close()
    }
  })

  it('uses the model the workflow names (provider:model) over the orchestrator default, with its own prompt and limit', async () => {
    const { model, calls } = recordingModel('From the named model.')
    registerProvider('summary-test', () => model)
    const fallback = recordingModel('From the default.')
    const o = new Orchestrator({ store: 'memory', summaryModel: fallback.model })
    try {
      await o.register(double)
      const result = await o.run({
        name: 'named',
        summary: { model: 'summary-test:any', maxTokens: 50, system: 'Be brief.' },
        tasks: [{ id: 'a', agent: 'double', input: 5 }],
      })
      expect(result.writtenSummary?.text).toBe('From the named model.')
      expect(fallback.calls).toHaveLength(0)
      expect(calls[0].maxOutputTokens).toBe(50)
      expect(calls[0].prompt[0]).toEqual({ role: 'system', content: 'Be brief.' })
      // A run without the option writes none.
      const plain = await o.run({ name: 'plain', tasks: [{ id: 'a', agent: 'double', input: 5 }] })
      expect(plain.writtenSummary).toBeUndefined()
      expect(calls).toHaveLength(1)
    } finally {
      await o.close()
    }
  })
})

summaryCases('memory', async (fn) => fn('memory'))

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-summary-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
let n = 0
summaryCases('sqlite', async (fn) => fn(join(dir, `runs-${n++}.db`)))

/**
 * The store, counting the `getRun` reads of each run made after its final
 * state was committed (what a worker reads because the run ended).
 */
function countingReadsAfterEnd(store: Store): { store: Store; readsAfterEnd: Map<RunId, number> } {
  const ended = new Set<RunId>()
  const readsAfterEnd = new Map<RunId, number>()
  const wrapped = new Proxy(store, {
    get(target, key) {
      if (key === 'getRun')
        return (runId: RunId) => {
          if (ended.has(runId)) readsAfterEnd.set(runId, (readsAfterEnd.get(runId) ?? 0) + 1)
          return target.getRun(runId)
        }
      if (key === 'commit')
        return async (batch: Parameters<Store['commit']>[0]) => {
          await target.commit(batch)
          for (const op of batch.ops)
            if (op.op === 'run.state' && (op.state === 'SUCCEEDED' || op.state === 'FAILED')) ended.add(op.runId)
        }
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
  return { store: wrapped, readsAfterEnd }
}

describe('run summary on workers', () => {
  async function onWorker(spec: WorkflowSpec, summaryModel = recordingModel('Doubled.').model) {
    const memory = new MemoryStore()
    const { store, readsAfterEnd } = countingReadsAfterEnd(memory)
    const worker = new Worker({ store, id: 'w-summary', leaseMs: 3000, pollMs: 20, summaryModel })
    await worker.register(double)
    await worker.start()
    try {
      const client = await Client.connect(memory)
      const runId = await client.start(spec)
      expect((await client.result(runId, { timeoutMs: 10_000 })).state).toBe('SUCCEEDED')
    } finally {
      await worker.stop({ drainMs: 1000 }) // waits for the summaries being written
    }
    const [record] = await memory.listRuns()
    return { record, reads: readsAfterEnd.get(record.id) ?? 0 }
  }

  it('a worker writes the summary of a run whose workflow asks for one', async () => {
    const { record, reads } = await onWorker({
      name: 'w',
      summary: true,
      tasks: [{ id: 'a', agent: 'double', input: 2 }],
    })
    expect(record.summary?.text).toBe('Doubled.')
    expect(reads).toBeGreaterThan(0) // the summary reads the run it writes about
  }, 30_000)

  it('a run whose workflow asks for no summary costs the worker no store read once it ended', async () => {
    const { record, reads } = await onWorker({ name: 'w', tasks: [{ id: 'a', agent: 'double', input: 2 }] })
    expect(record.state).toBe('SUCCEEDED')
    expect(record.summary).toBeUndefined()
    expect(reads).toBe(0)
  }, 30_000)
})

await describePostgres('run summary on postgres', () => {
  summaryCases('postgres', (fn) => withFreshSchema(fn))
})
