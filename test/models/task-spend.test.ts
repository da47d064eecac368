import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { defineTool } from '../../src/agents/tools.js'
import type { ModelCalledEvent } from '../../src/core/events.js'
import { taskSpendAfter } from '../../src/core/model-spend.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { workflow } from '../../src/workflows/builder.js'

// A task's model spend on its stored record: summed over its attempts, a call
// replayed from the journal not counted twice, equal to what the run summary
// reports, on the memory store and on an SQLite file.

const dir = mkdtempSync(join(tmpdir(), 'flotilla-task-spend-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const add = defineTool({
  name: 'add',
  input: z.object({ a: z.number(), b: z.number() }),
  run: ({ a, b }) => a + b,
})

const usage = (inputTokens: number, outputTokens: number) => ({
  inputTokens,
  outputTokens,
  reasoningTokens: 2,
  cachedInputTokens: 5,
})

describe.each([
  ['memory', () => new Orchestrator()],
  ['sqlite', () => new Orchestrator({ store: join(dir, `runs-${Math.random().toString(36).slice(2)}.db`) })],
])('task records carry model spend (%s)', (_name, open) => {
  it('sums a retried task over its attempts, counting the replayed calls once, as the run summary does', async () => {
    const model = scriptedModel(
      [
        { toolCalls: [{ name: 'add', input: { a: 1, b: 2 } }], usage: usage(100, 20) },
        { toolCalls: [{ name: 'add', input: { a: 3, b: 4 } }], usage: usage(150, 25) },
        { error: { status: 500, message: 'upstream died' } },
        { text: 'done', usage: usage(200, 30) },
      ],
      { modelId: 'gpt-4.1-mini' },
    )
    const agent = defineLlmAgent({
      name: 'spender',
      model,
      tools: [add],
      maxRetries: 0,
      prices: { 'scripted:gpt-4.1-mini': { input: 1000, output: 4000 } },
    })
    const other = defineLlmAgent({
      name: 'other',
      model: scriptedModel([{ text: 'hi', usage: usage(10, 1) }], { repeatLast: true }),
    })
    const o = open()
    const calls: ModelCalledEvent[] = []
    o.on('model.called', (e) => calls.push(e))
    try {
      await o.register(agent)
      await o.register(other)
      const result = await o.run(
        workflow('spend')
          .task('t', { agent: 'spender', input: 'go', retry: { maxAttempts: 2, initialDelayMs: 1 } })
          .task('u', { agent: 'other', input: 'hi' })
          .task('plain', { agent: 'other', input: 'again', dependsOn: ['u'] })
          .build(),
      )
      expect(result.error).toBeUndefined()
      const tasks = Object.fromEntries((await o.getTasks(result.runId)).map((t) => [t.taskId, t]))
      const ofT = calls.filter((e) => e.taskId === 't')
      expect(ofT.map((e) => [e.attempt, e.replayed])).toEqual([
        [1, false],
        [1, false],
        [2, true],
        [2, true],
        [2, false],
      ])
      expect(tasks.t.model).toEqual({
        calls: 3,
        replayed: 2,
        inputTokens: 450,
        outputTokens: 75,
        reasoningTokens: 6,
        cachedInputTokens: 15,
        costUsd: expect.closeTo(
          ofT.filter((e) => !e.replayed).reduce((s, e) => s + e.costUsd, 0),
          10,
        ),
      })
      expect(tasks.t.model!.costUsd).toBeGreaterThan(0)
      expect(tasks.u.model).toMatchObject({ calls: 1, inputTokens: 10, outputTokens: 1 })
      const sum = Object.values(tasks).reduce((s, t) => s + (t.model?.calls ?? 0), 0)
      expect(sum).toBe(result.summary.model!.calls)
    } finally {
      await o.close()
    }
  })
})

describe('taskSpendAfter', () => {
  const call = (input: number, replayed: boolean) => ({
    usage: { inputTokens: input, outputTokens: 1, reasoningTokens: 0, cachedInputTokens: 0 },
    costUsd: input / 1000,
    replayed,
  })

  it('adds the calls an attempt made to what earlier attempts stored', () => {
    const first = taskSpendAfter(undefined, [call(10, false), call(20, false)])
    expect(first).toMatchObject({ calls: 2, replayed: 0, inputTokens: 30 })
    expect(taskSpendAfter(first, [call(10, true), call(20, true), call(40, false)])).toMatchObject({
      calls: 3,
      replayed: 2,
      inputTokens: 70,
      costUsd: expect.closeTo(0.07, 10),
    })
  })

  it('counts the calls of an attempt that crashed before storing its result once, through their replay', () => {
    // Nothing stored: the first attempt died; the second replays its two calls and makes one.
    expect(taskSpendAfter(undefined, [call(10, true), call(20, true), call(40, false)])).toMatchObject({
      calls: 3,
      replayed: 2,
      inputTokens: 70,
    })
    // One attempt stored 1 call; a second crashed after 2 more; the third replays all 3.
    const stored = taskSpendAfter(undefined, [call(10, false)])
    expect(taskSpendAfter(stored, [call(10, true), call(20, true), call(30, true)])).toMatchObject({
      calls: 3,
      inputTokens: 60,
    })
  })

  it('is undefined for a task that never called a model, and keeps the stored spend for an attempt without calls', () => {
    expect(taskSpendAfter(undefined, [])).toBeUndefined()
    const stored = taskSpendAfter(undefined, [call(10, false)])
    expect(taskSpendAfter(stored, [])).toEqual(stored)
  })
})
