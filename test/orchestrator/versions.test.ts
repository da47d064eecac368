import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { compileWorkflow } from '../../src/workflows/compile.js'
import { ref, workflow } from '../../src/workflows/builder.js'
import { deferred, flush } from './helpers.js'

const version = (v: string, gate?: Promise<void>) =>
  defineAgent({
    name: 'svc',
    version: v,
    handler: async (_: unknown, ctx) => {
      if (gate && ctx.taskId === 'first') await gate
      return v
    },
  })

describe('agent versions in workflows', () => {
  it('runs the latest version by default, and a run in flight keeps the version it started with', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    const gate = deferred()
    await o.register(version('1.0.0', gate.promise))
    const wf = workflow('v')
      .task('first', { agent: 'svc' })
      .task('second', { agent: 'svc', input: ref('first') })
      .build()
    const h = o.start(wf)
    await flush()
    await o.register(version('2.0.0'))
    gate.resolve()
    const old = await h.result
    expect([old.output('first'), old.output('second')]).toEqual(['1.0.0', '1.0.0'])
    const next = await o.run(wf)
    expect([next.output('first'), next.output('second')]).toEqual(['2.0.0', '2.0.0'])
  })

  it('pins an exact version or the highest in a range', async () => {
    const o = new Orchestrator({ store: new MemoryStore() })
    for (const v of ['1.2.0', '1.4.1', '2.0.0']) await o.register(version(v))
    const run = (v: string) => o.run(workflow('r').task('first', { agent: 'svc', version: v }).build())
    expect((await run('1.2.0')).output('first')).toBe('1.2.0')
    expect((await run('^1.0.0')).output('first')).toBe('1.4.1')
    expect((await run('>=1.3.0 <2.0.0')).output('first')).toBe('1.4.1')
    await expect(run('^3.0.0')).rejects.toMatchObject({ code: 'VERSION_NOT_SATISFIED' })
  })

  it('refuses a malformed version range when the workflow compiles', () => {
    expect(() => compileWorkflow({ name: 'bad', tasks: [{ id: 'a', agent: 'svc', version: '^^1' }] })).toThrow(
      expect.objectContaining({ code: 'WORKFLOW_INVALID' }),
    )
  })
})
