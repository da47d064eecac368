/**
 * Loading what an agent runner runs: the agent definition named by a spec's
 * `module` and `export`, and the tools named by its `tools`. Every failure is
 * `AGENT_DEPLOY_FAILED` saying what was looked for and what was found.
 */
import { stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { FlotillaError } from '../core/errors.js'
import { isAgentDefinition, type AnyAgentDefinition } from './define-agent.js'
import { collectTools, isToolDefinition, type AnyToolDefinition } from './tools.js'

function deployFailed(message: string, details: Record<string, unknown>, cause?: unknown): FlotillaError {
  return new FlotillaError('AGENT_DEPLOY_FAILED', message, { details, cause })
}

/** The absolute path of a module given as a path or a `file:` URL. */
function pathOf(module: string): string {
  return module.startsWith('file:') ? fileURLToPath(module) : module
}

/** Imports a module file; a missing file or a failing import is `AGENT_DEPLOY_FAILED`. */
export async function importModule(module: string, what: string): Promise<Readonly<Record<string, unknown>>> {
  const path = pathOf(module)
  try {
    const s = await stat(path)
    if (!s.isFile()) throw new Error('not a file')
  } catch {
    throw deployFailed(
      `The ${what} ${path} does not exist: check "module" in the agent spec (paths are relative to the spec file).`,
      { module: path },
    )
  }
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e)
    const hint = ['.ts', '.mts', '.cts'].includes(extname(path))
      ? ' Node cannot import TypeScript directly: compile it to .js/.mjs first.'
      : ''
    throw deployFailed(`Cannot import the ${what} ${path}: ${reason}.${hint}`, { module: path }, e)
  }
}

function describeExports(mod: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(mod)
  if (keys.length === 0) return 'it exports nothing'
  const agents = keys.filter((k) => isAgentDefinition(mod[k]))
  const tools = keys.filter((k) => isToolDefinition(mod[k]))
  const parts = [`it exports: ${keys.join(', ')}`]
  if (agents.length > 0) parts.push(`agents: ${agents.join(', ')}`)
  if (tools.length > 0) parts.push(`tools: ${tools.join(', ')}`)
  return parts.join('; ')
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'function') return 'a function'
  return typeof value === 'object' ? 'an object that is not an agent' : `a ${typeof value}`
}

/**
 * Loads the agent definition exported as `exportName` by `module`.
 *
 * @example
 * ```ts
 * const def = await loadAgentDefinition('/srv/agents/scanner.mjs', 'default')
 * ```
 */
export async function loadAgentDefinition(
  module: string,
  exportName: string,
): Promise<{ definition: AnyAgentDefinition; exports: Readonly<Record<string, unknown>> }> {
  const mod = await importModule(module, 'agent module')
  const path = pathOf(module)
  if (!Object.prototype.hasOwnProperty.call(mod, exportName)) {
    throw deployFailed(
      `The agent module ${path} has no export "${exportName}" (${describeExports(mod)}). Set "export" in the agent spec to one of its agents.`,
      {
        module: path,
        export: exportName,
        exports: Object.keys(mod),
      },
    )
  }
  const value = mod[exportName]
  if (!isAgentDefinition(value)) {
    throw deployFailed(
      `Export "${exportName}" of ${path} is ${kindOf(value)}, not an agent made by defineAgent (${describeExports(mod)}).`,
      {
        module: path,
        export: exportName,
        exports: Object.keys(mod),
      },
    )
  }
  return { definition: value, exports: mod }
}

/**
 * Loads the tools named by `names` from `toolsModule`, or from the agent's
 * own module exports when there is none; a name the module does not export
 * is `AGENT_DEPLOY_FAILED` listing the tools it does export.
 */
export async function loadTools(
  names: readonly string[],
  toolsModule: string | undefined,
  agentExports: Readonly<Record<string, unknown>>,
  agentModule: string,
): Promise<Map<string, AnyToolDefinition>> {
  if (names.length === 0) return new Map()
  const mod = toolsModule === undefined ? agentExports : await importModule(toolsModule, 'tools module')
  const source = pathOf(toolsModule ?? agentModule)
  const found = collectTools(mod)
  const missing = names.filter((n) => !found.has(n))
  if (missing.length > 0) {
    const have =
      found.size === 0
        ? 'it exports no tools made by defineTool'
        : `it exports the tools: ${[...found.keys()].join(', ')}`
    throw deployFailed(
      `The agent's tools ${missing.map((n) => `"${n}"`).join(', ')} are not exported by ${source} (${have}). Export them, or set "toolsModule" in the agent spec.`,
      {
        module: source,
        missing,
      },
    )
  }
  return new Map(names.map((n) => [n, found.get(n) as AnyToolDefinition]))
}
