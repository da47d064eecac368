import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { RunId } from '../../src/core/ids.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { MemoryStore } from '../../src/store/memory/memory-store.js'
import { ref, workflow } from '../../src/workflows/builder.js'

/** The pattern of docs/workflows.md ("Confidence and a fallback agent"). */
async function answer(confidence: number) {
  const orch = new Orchestrator({ store: new MemoryStore() })
  let expertCalls = 0
  await orch.register(defineAgent({ name: 'quick', handler: () => ({ answer: 'Lyon?', confidence }) }))
  await orch.register(
    defineAgent({
      name: 'expert',
      handler: () => {
        expertCalls++
        return { answer: 'Paris', confidence: 0.97 }
      },
    }),
  )
  await orch.register(
    defineAgent({
      name: 'keep-best',
      handler: (input: { draft: { answer: string }; checked?: { answer: string } }) =>
        (input.checked ?? input.draft).answer,
    }),
  )
  const wf = workflow('answer')
    .task('draft', { agent: 'quick' })
    .task('checked', { agent: 'expert', when: 'tasks.draft.output.confidence < 0.9' })
    .task('final', { agent: 'keep-best', input: { draft: ref('draft'), checked: ref('checked') } })
    .outputs('final')
    .build()
  const result = await orch.run(wf)
  const states = (await orch.store.getTasks(result.runId as RunId)).map((t) => [t.taskId, t.state])
  await orch.close()
  return { final: result.output('final'), expertCalls, states }
}

describe('confidence conditions with a fallback agent', () => {
  it('calls the expert when the draft is unsure and keeps its answer', async () => {
    const r = await answer(0.55)
    expect(r.final).toBe('Paris')
    expect(r.expertCalls).toBe(1)
  })

  it('skips the expert when the draft is confident (0.9 is confident enough) and keeps the draft', async () => {
    const r = await answer(0.9)
    expect(r.final).toBe('Lyon?')
    expect(r.expertCalls).toBe(0)
    expect(r.states).toContainEqual(['checked', 'SKIPPED'])
  })
})
