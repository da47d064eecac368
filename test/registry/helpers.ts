import { defineAgent, type AgentConfig, type AnyAgentDefinition } from '../../src/agents/define-agent.js'

/** A minimal agent definition; `extra` overrides any field. */
export function agent(name: string, extra: Partial<AgentConfig<unknown, unknown>> = {}): AnyAgentDefinition {
  return defineAgent<unknown, unknown>({ name, handler: () => null, ...extra })
}

/** The `code` of what `fn` throws (or rejects with); fails when it does not throw. */
export async function codeOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn()
  } catch (err) {
    return (err as { code?: unknown }).code
  }
  throw new Error('expected the call to throw')
}
