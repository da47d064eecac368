import { z } from 'zod'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { DiscoveryFailure } from '../registry/discovery/discover-agents.js'
import { globToRegExp } from '../core/glob.js'
import { listMatchingFiles } from '../registry/discovery/glob.js'
import type { Workflow } from './compile.js'
import { loadWorkflowFile } from './load.js'

/** Default pattern of workflow files. */
export const DEFAULT_WORKFLOW_PATTERN = '**/*.{yaml,yml,json}'

/** Options of {@link discoverWorkflows}. */
export interface DiscoverWorkflowsOptions {
  /** Glob of the files to load, relative to the folder: `*`, `?`, `**`, `{a,b}`. @default '**\/*.{yaml,yml,json}' */
  pattern?: string
}

/** What {@link discoverWorkflows} loaded and what it could not. */
export interface WorkflowDiscoveryReport {
  /** Files that compiled, with their workflow. */
  loaded: { file: string; workflow: Workflow }[]
  /** Files that failed, with the code and message of the error. */
  failed: DiscoveryFailure[]
}

const optionsSchema = z.object({ pattern: z.string().min(1).optional() }).strict()

/**
 * Loads every workflow file (YAML or JSON) under `folder` whose relative
 * path matches `pattern` and compiles it. Never stops at a bad file: each
 * one that is not valid YAML/JSON or not a valid workflow is reported in
 * `failed` with its code (`WORKFLOW_INVALID`, `WORKFLOW_CYCLE`, …), as is
 * a file whose workflow `name` an earlier file (in path order) already
 * used. Agent names are not checked here: that happens when a run starts.
 * Throws `FILE_NOT_FOUND` when `folder` is not a folder and
 * `VALIDATION_FAILED` for bad options.
 *
 * @example
 * ```ts
 * const { loaded, failed } = await discoverWorkflows('./workflows')
 * const byName = new Map(loaded.map(({ workflow }) => [workflow.name, workflow]))
 * ```
 */
export async function discoverWorkflows(
  folder: string,
  options: DiscoverWorkflowsOptions = {},
): Promise<WorkflowDiscoveryReport> {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path.join('.') ?? ''
    throw new FlotillaError('VALIDATION_FAILED', `discoverWorkflows: invalid option "${path}": ${issue?.message}.`, {
      details: { path },
    })
  }
  const files = await listMatchingFiles(folder, globToRegExp(parsed.data.pattern ?? DEFAULT_WORKFLOW_PATTERN))
  const report: WorkflowDiscoveryReport = { loaded: [], failed: [] }
  const names = new Map<string, string>()
  for (const file of files) {
    try {
      const workflow = await loadWorkflowFile(file)
      const first = names.get(workflow.name)
      if (first !== undefined) {
        throw new FlotillaError(
          'WORKFLOW_INVALID',
          `${file}: workflow "${workflow.name}" is already defined by ${first}. Rename one of them.`,
          {
            details: { file, workflow: workflow.name, first },
          },
        )
      }
      names.set(workflow.name, file)
      report.loaded.push({ file, workflow })
    } catch (e) {
      const err = toFlotillaError(e, 'WORKFLOW_INVALID')
      report.failed.push({ file, code: err.code, message: err.message })
    }
  }
  return report
}
