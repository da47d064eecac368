import { afterEach, describe, expect, it } from 'vitest'
import { defineLlmAgent } from '../../src/agents/llm-agent.js'
import { limitProvider } from '../../src/models/rate-limits.js'
import { scriptedModel } from '../../src/models/scripted-model.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'

// Per-provider rate limits, shared by every agent of the process: calls wait
// for room in the window instead of failing.

afterEach(() => limitProvider('scripted', undefined))

async function fanOut(n: number): Promise<number[]> {
  const at: number[] = []
  const model = scriptedModel([() => (at.push(Date.now()), { text: 'ok' })], { repeatLast: true })
  const o = new Orchestrator()
  // Two agents on the same provider share its limit.
  await o.registerAll([defineLlmAgent({ name: 'a', model }), defineLlmAgent({ name: 'b', model })])
  const tasks = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, agent: i % 2 === 0 ? 'a' : 'b', input: 'hi' }))
  const result = await o.run({ name: 'many', tasks })
  await o.close()
  expect(result.state).toBe('SUCCEEDED')
  return at.sort((x, y) => x - y)
}

describe('limitProvider', () => {
  it('holds calls to a provider to its requests per window, across agents', async () => {
    limitProvider('scripted', { requests: 2, perSeconds: 1 })
    const at = await fanOut(5)
    expect(at).toHaveLength(5)
    // 5 calls at 2 per second: the 3rd waits for the 2nd window, the 5th for the 3rd.
    expect(at[2] - at[0]).toBeGreaterThanOrEqual(900)
    expect(at[4] - at[0]).toBeGreaterThanOrEqual(1900)
  })

  it('without limits calls go at once; bad limits are VALIDATION_FAILED', async () => {
    const at = await fanOut(6)
    expect(at[5] - at[0]).toBeLessThan(500)
    expect(() => limitProvider('scripted', { requests: 0 })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    )
  })
})
