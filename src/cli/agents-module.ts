import { stat } from 'node:fs/promises'
import { dirname, extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { FlotillaError } from '../core/errors.js'
import { isAgentDefinition, type AnyAgentDefinition } from '../agents/define-agent.js'
import { isAgentTemplate, type AgentTemplate } from '../agents/agent-template.js'

/** The agents found in a module, and where it was loaded from. */
export interface LoadedAgents {
  /** Absolute path of the module. */
  path: string
  definitions: AnyAgentDefinition[]
  /** The agent templates it exports (`defineAgentTemplate`), registered beside the agents. */
  templates: AgentTemplate[]
}

function collect(value: unknown, into: Set<AnyAgentDefinition>, templates: Set<AgentTemplate>): void {
  for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) {
    if (isAgentDefinition(v)) into.add(v)
    else if (isAgentTemplate(v)) templates.add(v)
  }
}

/**
 * Imports the module of agent definitions a workflow file names
 * (`agents: ./agents.mjs`, relative to the workflow file) and returns every
 * export made by `defineAgent`: named exports, arrays of them, and a
 * default export that is one or a list. A missing file throws
 * `FILE_NOT_FOUND`; a failing import, or a module without agents,
 * `MODULE_LOAD_FAILED` naming the module.
 *
 * @example
 * ```ts
 * const { definitions } = await loadAgentsModule('flows/scan.yaml', './agents.mjs')
 * ```
 */
export async function loadAgentsModule(workflowFile: string, specifier: string): Promise<LoadedAgents> {
  const path = resolve(dirname(resolve(workflowFile)), specifier)
  return importAgents(
    path,
    () =>
      new FlotillaError(
        'FILE_NOT_FOUND',
        `Agents module "${specifier}" named by ${workflowFile} does not exist (looked for ${path}). Paths are relative to the workflow file.`,
        {
          details: { module: path, workflow: workflowFile },
        },
      ),
  )
}

/**
 * Imports the agents module at the absolute `path` and returns its agent
 * definitions, like {@link loadAgentsModule}; `missing` makes the error
 * thrown when there is no file there.
 */
export async function importAgents(path: string, missing: () => FlotillaError): Promise<LoadedAgents> {
  try {
    const s = await stat(path)
    if (!s.isFile()) throw new Error('not a file')
  } catch {
    throw missing()
  }
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e)
    const hint = ['.ts', '.mts', '.cts'].includes(extname(path))
      ? ' Node cannot import TypeScript directly: compile it to .js/.mjs first.'
      : ''
    throw new FlotillaError('MODULE_LOAD_FAILED', `Cannot import agents module ${path}: ${reason}.${hint}`, {
      cause: e,
      details: { module: path },
    })
  }
  const found = new Set<AnyAgentDefinition>()
  const templates = new Set<AgentTemplate>()
  for (const value of Object.values(mod)) collect(value, found, templates)
  if (found.size === 0) {
    throw new FlotillaError(
      'MODULE_LOAD_FAILED',
      `Agents module ${path} exports no agent definitions. Export the results of defineAgent({...}) as named exports, an array, or the default export.`,
      { details: { module: path, exports: Object.keys(mod).join(', ') } },
    )
  }
  return { path, definitions: [...found], templates: [...templates] }
}
