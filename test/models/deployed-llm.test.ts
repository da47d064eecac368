import { writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BusEvent } from '../../src/messaging/bus.js'
import { parseAgentSpec } from '../../src/agents/spec.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { workflow } from '../../src/workflows/builder.js'
import { ROOT, runCli } from '../cli/run-cli.js'
import { chatText, chatToolCalls, startFakeLlm, type FakeLlm } from '../helpers/fake-llm.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

// A language-model agent deployed from a spec on both runtimes: the tool loop
// runs in the agent's process (tools checked against the spec's permissions),
// its model calls reach the supervisor as model.called events.

const MODULE = join(ROOT, 'test/fixtures/llm/deployed-llm.mjs')
let llm: FakeLlm
let root: string
beforeAll(async () => {
  ensureFreshBuild()
  llm = await startFakeLlm((request) => {
    const told = ((request.body.messages as { role: string }[]) ?? []).some((m) => m.role === 'tool')
    return told ? chatText('Done: HELLO.') : chatToolCalls([{ id: 'c1', name: 'shout', input: { text: 'hello' } }])
  })
  process.env.FLOTILLA_TEST_LLM_URL = llm.url
  root = await mkdtemp(join(tmpdir(), 'flotilla-deployed-llm-'))
}, 120_000)
afterAll(async () => {
  await llm.close()
  await rm(root, { recursive: true, force: true })
})

describe('a spec with a model: block (no module)', () => {
  for (const runtime of ['process', 'inprocess'] as const) {
    it(`${runtime}: deploys a language-model agent from the block, with tools from toolsModule`, async () => {
      const o = new Orchestrator({
        store: 'memory',
        runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY }), new InProcessRuntime()],
        workspaceRoot: root,
      })
      try {
        const before = llm.requests.length
        await o.agents.deploy({
          name: 'scribe',
          model: { model: `openai-compatible:${llm.url}#from-spec`, system: 'Be brief.', maxRetries: 0 },
          tools: ['shout'],
          toolsModule: MODULE,
          runtime,
          permissions: [{ resource: 'tool:shout', actions: ['call'] }],
        })
        const result = await o.run(workflow('w').task('say', { agent: 'scribe', input: 'Shout hello.' }).build())
        expect(result.output('say')).toBe('Done: HELLO.')
        expect(llm.requests.slice(before).map((r) => r.body.model)).toEqual(['from-spec', 'from-spec'])
        expect(llm.requests[before].body.messages).toEqual(
          expect.arrayContaining([{ role: 'system', content: 'Be brief.' }]),
        )
      } finally {
        await o.close()
      }
    }, 60_000)
  }

  it('flotilla agent run runs a model: spec alone (its durable steps kept for the command)', async () => {
    const spec = join(root, 'scribe.yaml')
    writeFileSync(
      spec,
      [
        'name: scribe',
        'model:',
        `  model: openai-compatible:${llm.url}#cli`,
        'tools: [shout]',
        `toolsModule: ${MODULE}`,
        'permissions:',
        '  - { resource: "tool:shout", actions: [call] }',
      ].join('\n'),
    )
    const r = await runCli(['agent', 'run', spec, '--input', '"Shout hello."', '--workspace', join(root, 'ws')])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe('"Done: HELLO."')
  }, 60_000)

  it('refuses a spec with both module and model, with neither, or with a bad model field (AGENT_SPEC_INVALID)', () => {
    expect(() => parseAgentSpec({ name: 'x', module: './a.mjs', model: { model: 'openai:gpt-4.1-mini' } })).toThrow(
      expect.objectContaining({ code: 'AGENT_SPEC_INVALID', message: expect.stringContaining('exclude each other') }),
    )
    expect(() => parseAgentSpec({ name: 'x' })).toThrow(
      expect.objectContaining({
        code: 'AGENT_SPEC_INVALID',
        message: expect.stringContaining('or give a "model" block'),
      }),
    )
    expect(() => parseAgentSpec({ name: 'x', model: { model: 'openai:gpt-4.1-mini', temprature: 1 } })).toThrow(
      /unknown field "temprature" in "model"/,
    )
    expect(parseAgentSpec({ name: 'x', model: { model: 'openai:gpt-4.1-mini', maxSteps: 4 } })).toMatchObject({
      module: '',
      model: { model: 'openai:gpt-4.1-mini', maxSteps: 4 },
    })
  })
})

describe('a language-model agent deployed from a spec', () => {
  for (const runtime of ['process', 'inprocess'] as const) {
    it(`${runtime}: runs its tool loop in the agent and reports its model calls`, async () => {
      const o = new Orchestrator({
        store: 'memory',
        runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY }), new InProcessRuntime()],
        workspaceRoot: root,
      })
      const events: BusEvent[] = []
      await o.bus.subscribe('*', undefined, (e) => void events.push(e))
      try {
        const before = llm.requests.length
        await o.agents.deploy({
          name: 'writer',
          module: MODULE,
          export: 'writer',
          tools: ['shout'],
          runtime,
          env: { FLOTILLA_TEST_LLM_URL: llm.url },
          permissions: [{ resource: 'tool:shout', actions: ['call'] }],
        })
        const result = await o.run(workflow('w').task('say', { agent: 'writer', input: 'Shout hello.' }).build())
        expect(result.output('say')).toBe('Done: HELLO.')
        expect(llm.requests.length - before).toBe(2)
        expect(JSON.stringify(llm.requests.at(-1)!.body.messages)).toContain('HELLO')
        await expect.poll(() => events.filter((e) => e.type === 'model.called').length, { timeout: 3000 }).toBe(2)
      } finally {
        await o.close()
      }
    }, 60_000)
  }
})
