import { z } from 'zod'
import { FlotillaError } from '../core/errors.js'
import type { AnyAgentDefinition } from './define-agent.js'
import { defineLlmAgent } from './llm-agent.js'
import { llmSpecSchema } from './spec.js'
import type { AnyToolDefinition } from './tools.js'

/**
 * The agent a spec's `model:` block describes: a language-model agent named
 * `name` whose answer is the model's text (or an object matching the block's
 * `output` JSON Schema), with the spec's tools. A block
 * that does not match the schema is `AGENT_SPEC_INVALID`, naming the field.
 */
export function llmAgentFromSpec(
  name: string,
  block: unknown,
  tools: readonly AnyToolDefinition[],
): AnyAgentDefinition {
  const parsed = llmSpecSchema.safeParse(block)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = ['model', ...issue.path.map(String)].join('.')
    throw new FlotillaError('AGENT_SPEC_INVALID', `Agent "${name}": field "${field}": ${issue.message}.`, {
      details: { agent: name, field },
    })
  }
  const { model, output, ...rest } = parsed.data
  return defineLlmAgent({
    name,
    model,
    ...rest,
    ...(output === undefined ? {} : { output: outputSchema(name, output) }),
    ...(tools.length === 0 ? {} : { tools }),
  }) as unknown as AnyAgentDefinition
}

/** The zod schema of a `model.output` JSON Schema; one zod cannot read is `AGENT_SPEC_INVALID`. */
function outputSchema(name: string, jsonSchema: Record<string, unknown>): z.ZodType {
  try {
    return z.fromJSONSchema(jsonSchema as Parameters<typeof z.fromJSONSchema>[0])
  } catch (e) {
    throw new FlotillaError(
      'AGENT_SPEC_INVALID',
      `Agent "${name}": field "model.output" is not a JSON Schema Flotilla can use: ${e instanceof Error ? e.message : String(e)}.`,
      { details: { agent: name, field: 'model.output' }, cause: e },
    )
  }
}
