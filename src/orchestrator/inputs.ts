import { FlotillaError } from '../core/errors.js'
import type { Workflow } from '../workflows/compile.js'

/**
 * Applies a workflow's declared input defaults and checks required inputs
 * and types; undeclared keys pass through untouched.
 */
export function resolveRunInput(workflow: Workflow, input: unknown): unknown {
  const declared = workflow.spec.inputs
  if (declared === undefined) return input
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Workflow "${workflow.name}" takes an object of inputs (${Object.keys(declared).join(', ')}), not ${JSON.stringify(input)}.`,
    )
  }
  const out: Record<string, unknown> = { ...(input as Record<string, unknown> | undefined) }
  for (const [name, spec] of Object.entries(declared)) {
    if (out[name] === undefined && spec.default !== undefined) out[name] = spec.default
    const value = out[name]
    if (value === undefined) {
      if (spec.required)
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `Workflow "${workflow.name}" needs input "${name}"${spec.description ? ` (${spec.description})` : ''}; pass it with --input ${name}=… or in the run's input.`,
          { details: { input: name } },
        )
      continue
    }
    if (spec.type !== undefined) {
      const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value
      if (actual !== spec.type) {
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `Workflow "${workflow.name}": input "${name}" must be a ${spec.type}, got ${actual} ${JSON.stringify(value)}.`,
          { details: { input: name, expected: spec.type, actual } },
        )
      }
    }
  }
  return out
}
