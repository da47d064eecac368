import { readFile } from 'node:fs/promises'
import { extname, resolve } from 'node:path'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { compileWorkflow, type Workflow } from './compile.js'
import type { WorkflowSpec } from './spec.js'

/**
 * Parses workflow text (YAML, or JSON, which is YAML too) and compiles it.
 * `source` names the file in error messages.
 *
 * @example
 * ```ts
 * const wf = parseWorkflow('name: hi\ntasks:\n  - id: a\n    agent: echo\n')
 * ```
 */
export function parseWorkflow(text: string, source = '(text)'): Workflow {
  const data = parseWorkflowData(text, source)
  try {
    return compileWorkflow(data as unknown as WorkflowSpec)
  } catch (e) {
    if (isFlotillaError(e))
      throw new FlotillaError(e.code, `${source}: ${e.message}`, { details: { ...e.details, source }, cause: e.cause })
    throw e
  }
}

/**
 * Parses workflow text (YAML or JSON) into the definition it holds, without
 * validating it (see `validateWorkflowSpec`). Text that is not YAML, or does
 * not hold a mapping, throws `WORKFLOW_INVALID` with the line and column.
 */
export function parseWorkflowData(text: string, source = '(text)'): Record<string, unknown> {
  let data: unknown
  try {
    data = parseYaml(text, { prettyErrors: true, uniqueKeys: true })
  } catch (e) {
    const where =
      e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : ''
    throw new FlotillaError(
      'WORKFLOW_INVALID',
      `${source} is not valid YAML/JSON${where}: ${(e as Error).message.split('\n')[0].replace(/:\s*$/, '')}.`,
      { cause: e, details: { source } },
    )
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new FlotillaError(
      'WORKFLOW_INVALID',
      `${source} must hold a mapping with "name" and "tasks", not ${Array.isArray(data) ? 'a list' : String(data)}.`,
      { details: { source } },
    )
  }
  return data as Record<string, unknown>
}

/** Reads and compiles a workflow file (`.yaml`, `.yml` or `.json`). */
export async function loadWorkflowFile(path: string): Promise<Workflow> {
  return parseWorkflow(await readWorkflowText(path), path)
}

/**
 * Reads a workflow file (`.yaml`, `.yml` or `.json`) into the definition it
 * holds, without validating it: for a validation that lists every problem.
 */
export async function readWorkflowData(path: string): Promise<Record<string, unknown>> {
  return parseWorkflowData(await readWorkflowText(path), path)
}

async function readWorkflowText(path: string): Promise<string> {
  const full = resolve(path)
  const ext = extname(full).toLowerCase()
  if (!['.yaml', '.yml', '.json'].includes(ext)) {
    throw new FlotillaError('WORKFLOW_INVALID', `Workflow files end in .yaml, .yml or .json; got "${path}".`, {
      details: { path },
    })
  }
  let text: string
  try {
    text = await readFile(full, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT')
      throw new FlotillaError('FILE_NOT_FOUND', `Workflow file "${path}" does not exist.`, { details: { path } })
    throw new FlotillaError('FILE_NOT_FOUND', `Cannot read workflow file "${path}": ${(e as Error).message}`, {
      details: { path, errno: code ?? '' },
      cause: e,
    })
  }
  return text
}
