import { describe, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'

describe('defineAgent', () => {
  it('refuses an unknown option with AGENT_INVALID naming it and the known ones; retry is said to belong to tasks', () => {
    const config = { name: 'x', retry: { maxAttempts: 3 }, handler: () => 1 }
    expect(() => defineAgent(config as never)).toThrow(
      expect.objectContaining({
        code: 'AGENT_INVALID',
        details: { agent: 'x' },
        message: expect.stringMatching(
          /unknown option "retry" \(known: name, version, .*healthCheck, permissions\)\. retry belongs to a task/,
        ),
      }),
    )
    expect(() => defineAgent({ name: 'y', handler: () => 1, maxConcurency: 2 } as never)).toThrow(
      /unknown option "maxConcurency" \(known: [^)]*\)\.$/,
    )
    expect(() => defineAgent({ name: 'b', handler: () => 1, budget: { run: { calls: 5 } } } as never)).toThrow(
      /unknown option "budget" .*\)\. budget belongs to a language-model agent: use defineLlmAgent\.$/,
    )
  })

  it('accepts a definition spread into a new one (a new version)', () => {
    const one = defineAgent({ name: 'z', handler: () => 1 })
    expect(defineAgent({ ...one, version: '2.0.0' }).version).toBe('2.0.0')
  })

  it('validates declared permissions (AGENT_INVALID naming the agent)', () => {
    expect(
      defineAgent({ name: 'p', handler: () => 1, permissions: [{ resource: 'artifact:notes/**', actions: ['read'] }] })
        .permissions,
    ).toEqual([{ resource: 'artifact:notes/**', actions: ['read'] }])
    expect(defineAgent({ name: 'q', handler: () => 1 }).permissions).toBeUndefined()
    expect(() =>
      defineAgent({ name: 'r', handler: () => 1, permissions: [{ resource: 'artifact:x' }] as never }),
    ).toThrow(expect.objectContaining({ code: 'AGENT_INVALID', details: { agent: 'r' } }))
  })
})
