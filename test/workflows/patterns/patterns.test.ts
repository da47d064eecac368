import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../../src/agents/define-agent.js'
import { Orchestrator } from '../../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { inputRef, workflow } from '../../../src/workflows/builder.js'
import { compileWorkflow } from '../../../src/workflows/compile.js'
import { parseWorkflow } from '../../../src/workflows/load.js'

async function team() {
  const o = new Orchestrator({ store: new MemoryStore() })
  const calls: string[] = []
  await o.registerAll([
    defineAgent({ name: 'upper', handler: (s: string) => (calls.push('upper'), s.toUpperCase()) }),
    defineAgent({ name: 'exclaim', handler: (s: string) => (calls.push('exclaim'), `${s}!`) }),
    defineAgent({ name: 'length', handler: (s: string) => s.length }),
    defineAgent({
      name: 'broken',
      handler: () => {
        throw new Error('stage broke')
      },
    }),
    defineAgent({
      name: 'square',
      handler: (n: number) => {
        if (n < 0) throw new Error('negative')
        return n * n
      },
    }),
    defineAgent({ name: 'sum', handler: (i: { items: number[] }) => i.items.reduce((a, b) => a + b, 0) }),
    defineAgent({ name: 'yes', handler: () => ({ answer: 'ship', confidence: 0.6 }) }),
    defineAgent({ name: 'no', handler: () => ({ answer: 'wait', confidence: 0.9 }) }),
    defineAgent({
      name: 'silent',
      handler: () => {
        throw new Error('no answer')
      },
    }),
  ])
  return { o, calls }
}

describe('pipeline', () => {
  it('feeds each stage the previous output, runs parallel stages on the same input, and keeps intermediates', async () => {
    const { o } = await team()
    const wf = workflow('p')
      .pipeline('shout', {
        input: inputRef('text'),
        stages: [
          { id: 'up', agent: 'upper' },
          {
            id: 'both',
            parallel: [
              { id: 'loud', agent: 'exclaim' },
              { id: 'size', agent: 'length' },
            ],
          },
        ],
        keepIntermediate: true,
      })
      .task('after', { agent: 'length', input: { $ref: 'tasks.shout.output.output.loud' } })
      .build()
    const r = await o.run(wf, { text: 'hi' })
    expect(r.state).toBe('SUCCEEDED')
    expect(r.output('shout')).toEqual({
      output: { loud: 'HI!', size: 2 },
      stages: { up: 'HI', both: { loud: 'HI!', size: 2 } },
    })
    expect(r.output('after')).toBe(3)
    expect(Object.keys(r.tasks)).toEqual([
      'shout__up',
      'shout__both__loud',
      'shout__both__size',
      'shout__both',
      'shout',
      'after',
    ])
  })

  it('stops on a failed stage by default, and carries on with onError: continue', async () => {
    const { o, calls } = await team()
    const stages = [
      { id: 'a', agent: 'broken' },
      { id: 'b', agent: 'exclaim' },
    ]
    const stop = await o.run(workflow('s').pipeline('p', { input: 'x', stages }).build())
    expect(stop.state).toBe('FAILED')
    expect(calls).toEqual([])
    const go = await o.run(workflow('c').pipeline('p', { input: 'x', stages, onError: 'continue' }).build())
    expect(go.state).toBe('SUCCEEDED')
    expect(go.output('p')).toBe('undefined!')
  })
})

describe('map-reduce', () => {
  it('maps an agent over a list and reduces the outputs', async () => {
    const { o } = await team()
    const r = await o.run(
      workflow('m')
        .mapReduce('total', { items: [1, 2, 3, 4], map: { agent: 'square' }, reduce: { agent: 'sum' } })
        .build(),
    )
    expect(r.output('total')).toBe(30)
  })

  it('fails on a failed item by default, or skips it with onItemFailure: skip', async () => {
    const { o } = await team()
    const items = [1, -2, 3]
    expect(
      (
        await o.run(
          workflow('f')
            .mapReduce('t', { items, map: { agent: 'square' }, reduce: { agent: 'sum' } })
            .build(),
        )
      ).state,
    ).toBe('FAILED')
    const r = await o.run(
      workflow('k')
        .mapReduce('t', {
          items,
          map: { agent: 'square', retry: { maxAttempts: 2, initialDelayMs: 1 } },
          reduce: { agent: 'sum' },
          onItemFailure: 'skip',
        })
        .build(),
    )
    expect(r.output('t')).toBe(10)
    expect(r.tasks['t__map_1']).toMatchObject({ state: 'FAILED', attempts: 2 })
  })
})

describe('map-reduce concurrency', () => {
  it('runs at most `concurrency` map tasks at once', async () => {
    const { o } = await team()
    let now = 0
    let peak = 0
    await o.register(
      defineAgent({
        name: 'slow',
        handler: async (n: number) => {
          peak = Math.max(peak, ++now)
          await new Promise((r) => setTimeout(r, 5))
          now--
          return n
        },
      }),
    )
    const r = await o.run(
      workflow('c')
        .mapReduce('t', { items: [1, 2, 3, 4, 5, 6], concurrency: 2, map: { agent: 'slow' }, reduce: { agent: 'sum' } })
        .build(),
    )
    expect(r.output('t')).toBe(21)
    expect(peak).toBe(2)
    const free = await o.run(
      workflow('f')
        .mapReduce('t', { items: [1, 2, 3, 4, 5, 6], map: { agent: 'slow' }, reduce: { agent: 'sum' } })
        .build(),
    )
    expect(free.output('t')).toBe(21)
    expect(peak).toBe(6)
  })
})

describe('map-reduce concurrency with a busy agent', () => {
  it('does not leak group slots while tasks wait for an agent instance', async () => {
    const { o } = await team()
    await o.register(
      defineAgent({
        name: 'one-at-a-time',
        maxConcurrency: 1,
        handler: async (n: number) => {
          await new Promise((r) => setTimeout(r, 1))
          return n
        },
      }),
    )
    const r = await o.run(
      workflow('b')
        .mapReduce('t', {
          items: [1, 2, 3, 4, 5],
          concurrency: 3,
          map: { agent: 'one-at-a-time' },
          reduce: { agent: 'sum' },
        })
        .build(),
    )
    expect(r.output('t')).toBe(15)
  })
})

describe('map-reduce over a list known only at run time', () => {
  it('maps over the output of an upstream task, skipping the unused slots', async () => {
    const { o } = await team()
    await o.register(defineAgent({ name: 'split', handler: (s: string) => s.split(',').map(Number) }))
    const spec = workflow('rt')
      .task('split', { agent: 'split', input: inputRef('csv') })
      .mapReduce('total', {
        items: { $ref: 'tasks.split.output' },
        maxItems: 5,
        map: { agent: 'square' },
        reduce: { agent: 'sum' },
      })
      .build()
    const r = await o.run(spec, { csv: '1,2,3' })
    expect(r.state).toBe('SUCCEEDED')
    expect(r.output('total')).toBe(14)
    expect(r.tasks['total__map_2'].state).toBe('SUCCEEDED')
    expect(r.tasks['total__map_3'].state).toBe('SKIPPED')
    expect(r.summary.counts.skipped).toBe(2)
  })

  it('fails with MAP_ITEMS_INVALID when the list is longer than maxItems, or not a list', async () => {
    const { o } = await team()
    await o.register(
      defineAgent({ name: 'split', handler: (s: string) => (s === 'x' ? 'not a list' : s.split(',').map(Number)) }),
    )
    const spec = (maxItems: number) =>
      workflow('rt')
        .task('split', { agent: 'split', input: inputRef('csv') })
        .mapReduce('total', {
          items: { $ref: 'tasks.split.output' },
          maxItems,
          map: { agent: 'square' },
          reduce: { agent: 'sum' },
        })
        .build()
    const long = await o.run(spec(2), { csv: '1,2,3' })
    expect(long.error?.code).toBe('MAP_ITEMS_INVALID')
    expect(long.error?.message).toContain('raise maxItems')
    const notList = await o.run(spec(2), { csv: 'x' })
    expect(notList.error?.code).toBe('MAP_ITEMS_INVALID')
    expect(notList.tasks['total__items'].attempts).toBe(1)
  })
})

describe('consensus', () => {
  it('asks every agent, tallies with weights and confidence, and reports the votes', async () => {
    const { o } = await team()
    const wf = workflow('c')
      .consensus('decide', {
        agents: ['yes', 'yes', 'no', 'silent'],
        input: 'release?',
        strategy: 'weighted',
        weights: { no: 1.5 },
        useConfidence: true,
        quorum: 0.75,
      })
      .build()
    const r = await o.run(wf)
    expect(r.state).toBe('SUCCEEDED')
    const out = r.output('decide') as {
      decision: string
      agreement: number
      votes: unknown[]
      quorum: { answered: number }
    }
    expect(out.decision).toBe('wait') // 1.5 × 0.9 = 1.35 > 2 × 0.6 = 1.2
    expect(out.quorum.answered).toBe(3)
    expect(out.votes).toHaveLength(4)
  })

  it('fails the run with CONSENSUS_NO_QUORUM when too few answer', async () => {
    const { o } = await team()
    const r = await o.run(
      workflow('q')
        .consensus('d', { agents: ['yes', 'silent', 'silent'], quorum: 0.5 })
        .build(),
    )
    expect(r.state).toBe('FAILED')
    expect(r.error?.code).toBe('CONSENSUS_NO_QUORUM')
  })
})

describe('patterns in YAML and their bad input', () => {
  it('compiles the same patterns from a workflow file', async () => {
    const { o } = await team()
    const wf = parseWorkflow(`
name: yaml-patterns
tasks:
  - id: total
    pattern: map-reduce
    items: [2, 3]
    map: { agent: square }
    reduce: { agent: sum }
  - id: vote
    pattern: consensus
    agents: [yes, no, yes]
    dependsOn: [total]
`)
    const r = await o.run(wf)
    expect(r.output('total')).toBe(13)
    expect((r.output('vote') as { decision: string }).decision).toBe('ship')
  })

  it.each([
    [{ id: 'c', pattern: 'consensus', agents: [] }, 'at least one voting agent'],
    [{ id: 'c', pattern: 'consensus', agents: ['a'], quorum: 1.5 }, 'can never be met'],
    [{ id: 'c', pattern: 'consensus', agents: ['a'], weights: { a: -1 } }, 'weights must be ≥ 0'],
    [{ id: 'm', pattern: 'map-reduce', items: 5, map: { agent: 'a' }, reduce: { agent: 'b' } }, 'items must be a list'],
    [
      {
        id: 'm',
        pattern: 'map-reduce',
        items: { $ref: 'input.list' },
        maxItems: 0,
        map: { agent: 'a' },
        reduce: { agent: 'b' },
      },
      'maxItems',
    ],
    [{ id: 'p', pattern: 'pipeline', stages: [] }, 'at least one stage'],
  ])('refuses %j with WORKFLOW_INVALID naming the problem', (entry, message) => {
    expect(() => compileWorkflow({ name: 'bad', tasks: [entry as never] })).toThrow(
      expect.objectContaining({ code: 'WORKFLOW_INVALID', message: expect.stringContaining(message) }),
    )
  })

  it('names an unknown voting agent with WORKFLOW_UNKNOWN_AGENT', async () => {
    const { o } = await team()
    await expect(
      o.run(
        workflow('u')
          .consensus('d', { agents: ['nobody'] })
          .build(),
      ),
    ).rejects.toMatchObject({ code: 'WORKFLOW_UNKNOWN_AGENT' })
  })
})
