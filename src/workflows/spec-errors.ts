/**
 * The errors a workflow definition's problems are reported with, shared by
 * `compileWorkflow` (which throws the first) and `validateWorkflowSpec`
 * (which lists them all), so both say the same thing.
 *
 * @module
 */
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import { checkRange } from '../registry/semver-range.js'
import { closestName } from './spec.js'

export function describeName(input: unknown): string {
  const n = (input as { name?: unknown } | null)?.name
  return typeof n === 'string' ? `"${n}"` : '(unnamed)'
}

export function duplicateError(workflow: string, id: string, first: number, second: number): FlotillaError {
  const message = `Workflow "${workflow}": task id "${id}" is used by tasks #${first + 1} and #${second + 1}; give each task its own id.`
  return new FlotillaError('WORKFLOW_DUPLICATE_TASK', message, {
    details: { workflow, taskId: id },
  })
}

export function unknownTaskError(workflow: string, where: string, id: string, known: Iterable<string>): FlotillaError {
  const ids = [...known]
  const guess = closestName(id, ids)
  const hint = guess === undefined ? '' : ` Did you mean "${guess}"?`
  const message = `Workflow "${workflow}": ${where} names task "${id}", which does not exist.${hint} Known tasks: ${ids.slice(0, 20).join(', ')}.`
  return new FlotillaError('WORKFLOW_UNKNOWN_DEPENDENCY', message, {
    details: { workflow, where, taskId: id },
  })
}

export function versionError(workflow: string, taskId: string, version: string): FlotillaError | undefined {
  try {
    checkRange(version)
    return undefined
  } catch (e) {
    const message = `Workflow "${workflow}", task "${taskId}": ${toFlotillaError(e).message}`
    return new FlotillaError('WORKFLOW_INVALID', message, { details: { workflow, taskId, version } })
  }
}

export function anyWithoutUpstream(workflow: string, taskId: string): FlotillaError {
  const message = `Workflow "${workflow}", task "${taskId}": dependencies "any" needs upstream tasks; name them in dependsOn (or reference their outputs), or leave dependencies out.`
  return new FlotillaError('WORKFLOW_INVALID', message, { details: { workflow, taskId } })
}

export function cycleError(workflow: string, path: string[]): FlotillaError {
  return new FlotillaError(
    'WORKFLOW_CYCLE',
    `Workflow "${workflow}" has a dependency cycle: ${path.join(' → ')} (each task waits for the next). Remove one of these dependencies.`,
    {
      details: { workflow, cycle: path },
    },
  )
}
