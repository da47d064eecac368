import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'
import { workflow } from '../../src/workflows/builder.js'

const stores: Array<[string, () => Store]> = [
  ['memory', () => new MemoryStore()],
  ['sqlite', () => SqliteStore.open({ path: ':memory:' })],
]

const bad: Array<[string, () => unknown, string, RegExp]> = [
  ['a BigInt', () => ({ n: 10n }), '$.n', /BigInt/],
  ['a Map', () => ({ items: [{ ok: 1 }, { m: new Map([['a', 1]]) }] }), '$.items[1].m', /Map object/],
  ['a Date', () => ({ at: new Date(0) }), '$.at', /Date object/],
  ['a Set at the root', () => new Set([1]), '$', /Set object/],
  ['NaN', () => [1, Number.NaN], '$[1]', /NaN/],
]

describe.each(stores)('a handler output JSON cannot hold (%s store)', (_name, create) => {
  it.each(bad)(
    'fails the task with AGENT_OUTPUT_INVALID naming the path of %s, and the run FAILED in the store',
    async (_label, output, path, reason) => {
      const store = create()
      const o = new Orchestrator({ store })
      try {
        await o.register(defineAgent({ name: 'odd', handler: output }))
        await o.register(defineAgent({ name: 'after', handler: () => 1 }))
        const result = await o.run(
          workflow('json-out')
            .task('t', { agent: 'odd' })
            .task('u', { agent: 'after', dependsOn: ['t'] })
            .build(),
        )
        expect(result.state).toBe('FAILED')
        const err = result.tasks.t.error
        expect(err).toMatchObject({ code: 'AGENT_OUTPUT_INVALID', details: { agent: 'odd', path } })
        expect(err?.message).toMatch(reason)
        expect(err?.message).toContain(path)
        expect(result.output('t')).toBeUndefined()
        const run = await o.getRun(result.runId)
        expect(run).toMatchObject({ state: 'FAILED', error: { code: 'AGENT_OUTPUT_INVALID' } })
        expect(run.finishedAt).toBeDefined()
        const tasks = await o.getTasks(result.runId)
        expect(tasks.find((t) => t.taskId === 't')).toMatchObject({
          state: 'FAILED',
          output: undefined,
          error: { code: 'AGENT_OUTPUT_INVALID', details: { path } },
        })
        expect(JSON.parse(JSON.stringify(result))).toBeTruthy()
      } finally {
        await o.close()
      }
    },
  )

  it('checks the value after the output schema parsed it (a schema may make a Date)', async () => {
    const store = create()
    const o = new Orchestrator({ store })
    try {
      await o.register(
        defineAgent({
          name: 'dated',
          output: z.object({ at: z.string().transform((s) => new Date(s)) }),
          handler: () => ({ at: '2026-01-01' }) as never,
        }),
      )
      const result = await o.run(workflow('json-schema-date').task('t', { agent: 'dated' }).build())
      expect(result.tasks.t.error).toMatchObject({
        code: 'AGENT_OUTPUT_INVALID',
        details: { agent: 'dated', path: '$.at' },
      })
      expect((await o.getRun(result.runId)).state).toBe('FAILED')
    } finally {
      await o.close()
    }
  })

  it('accepts plain JSON, undefined keys (left out), null-prototype objects and no output at all', async () => {
    const store = create()
    const o = new Orchestrator({ store })
    try {
      const bare = Object.assign(Object.create(null) as Record<string, unknown>, { k: [1, 'two', null, true] })
      await o.register(
        defineAgent({ name: 'plain', handler: () => ({ a: { b: [1.5, -0, 'x'] }, gone: undefined, bare }) }),
      )
      await o.register(defineAgent({ name: 'void', handler: () => undefined }))
      const result = await o.run(workflow('json-ok').task('t', { agent: 'plain' }).task('v', { agent: 'void' }).build())
      expect(result.state).toBe('SUCCEEDED')
      const stored = (await o.getTasks(result.runId)).find((t) => t.taskId === 't')
      // The memory store keeps the value itself; its JSON is what SQLite stores.
      expect(JSON.parse(JSON.stringify(stored?.output))).toStrictEqual({
        a: { b: [1.5, 0, 'x'] },
        bare: { k: [1, 'two', null, true] },
      })
    } finally {
      await o.close()
    }
  })
})
