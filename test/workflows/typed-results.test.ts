import { describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { defineAgent } from '../../src/agents/define-agent.js'
import { isFlotillaError } from '../../src/core/errors.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { ref, workflow } from '../../src/workflows/builder.js'
import type { Workflow } from '../../src/workflows/compile.js'
import type { RunResult } from '../../src/workflows/results.js'

const greeter = defineAgent({
  name: 'typed-greeter',
  input: z.object({ name: z.string() }),
  output: z.object({ text: z.string() }),
  handler: ({ name }) => ({ text: `Hello, ${name}` }),
})
const counter = defineAgent({ name: 'typed-counter', handler: (input: { text: string }) => input.text.length })

describe('typed results', () => {
  it('result.output(task) is typed from the agent given to the builder; names stay unknown', async () => {
    const wf = workflow('typed')
      .task('greet', { agent: greeter, input: { name: 'Ada' } })
      .task('count', { agent: counter, input: ref('greet') })
      .task('echo', { agent: 'typed-greeter', input: { name: 'Bob' } })
      .build()
    expectTypeOf(wf).toExtend<Workflow>()
    expect(wf.spec.tasks[0]).toMatchObject({ id: 'greet', agent: 'typed-greeter' })
    const o = new Orchestrator()
    try {
      await o.register(greeter)
      await o.register(counter)
      const result = await o.run(wf)
      expectTypeOf(result).toEqualTypeOf<RunResult<{ greet: { text: string }; count: number; echo: unknown }>>()
      expectTypeOf(result.output('greet')).toEqualTypeOf<{ text: string } | undefined>()
      expectTypeOf(result.output('count')).toEqualTypeOf<number | undefined>()
      expectTypeOf(result.output('echo')).toEqualTypeOf<unknown>()
      // @ts-expect-error "nope" is not a task of the workflow
      expect(() => result.output('nope')).toThrow(/no task "nope"/)
      expect(result.output('greet')?.text).toBe('Hello, Ada')
      expect(result.output('count')).toBe(10)
      expectTypeOf(result.outputs.greet).toEqualTypeOf<{ text: string } | undefined>()
      expectTypeOf(o.start(wf).result).toEqualTypeOf<
        Promise<RunResult<{ greet: { text: string }; count: number; echo: unknown }>>
      >()
      expectTypeOf(result.of(wf)).toEqualTypeOf(result)
    } finally {
      await o.close()
    }
  })

  it('an untyped result keeps accepting any task id, and of() refuses another workflow', async () => {
    const wf = workflow('plain')
      .task('greet', { agent: 'typed-greeter', input: { name: 'Ada' } })
      .build()
    const other = workflow('other')
      .task('x', { agent: greeter, input: { name: 'Z' } })
      .build()
    const o = new Orchestrator()
    try {
      await o.register(greeter)
      const result: RunResult = await o.run(wf.spec)
      expectTypeOf(result.output('greet')).toEqualTypeOf<unknown>()
      expect(result.output('greet')).toEqual({ text: 'Hello, Ada' })
      let error: unknown
      try {
        result.of(other)
      } catch (e) {
        error = e
      }
      expect(isFlotillaError(error) && error.code).toBe('VALIDATION_FAILED')
    } finally {
      await o.close()
    }
  })
})
