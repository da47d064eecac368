import { stat } from 'node:fs/promises'
import { z } from 'zod'
import { FlotillaError, toFlotillaError, type ErrorCode } from '../../core/errors.js'
import type { AnyAgentDefinition } from '../../agents/define-agent.js'
import type { Registry } from '../registry.js'
import { agentKey, applyDefinitions, importAgentFile } from './agent-file.js'
import { globToRegExp } from '../../core/glob.js'
import { listMatchingFiles } from './glob.js'

/** Default pattern of agent modules. */
export const DEFAULT_AGENT_PATTERN = '**/*.agent.{js,mjs}'

/** Options of {@link discoverAgents}. */
export interface DiscoverAgentsOptions {
  /** Glob of the files to load, relative to the folder: `*`, `?`, `**`, `{a,b}`. @default '**\/*.agent.{js,mjs}' */
  pattern?: string
  /** Instances to start per discovered definition. @default 1 */
  instances?: number
}

/** A file that failed to load, and why. */
export interface DiscoveryFailure {
  /** Absolute path of the file. */
  file: string
  /** Stable code: `MODULE_LOAD_FAILED`, `AGENT_INVALID`, `AGENT_DUPLICATE`, `AGENT_INIT_FAILED`… */
  code: ErrorCode
  /** What went wrong and what to fix. */
  message: string
  /** 1-based line of the fault in the file (a syntax error, or where the module threw at its top level), when known. */
  line?: number
  /** 1-based column of the fault, when known. */
  column?: number
}

/** What {@link discoverAgents} loaded and what it could not. */
export interface AgentDiscoveryReport {
  /** Files loaded, each with the `name@version` of the agents it registered. */
  loaded: { file: string; agents: string[] }[]
  /** Files that failed; nothing of theirs is registered. */
  failed: DiscoveryFailure[]
}

const optionsSchema = z
  .object({
    pattern: z.string().min(1).optional(),
    instances: z.number().int().min(1).max(10_000).optional(),
  })
  .strict()

/** Validated options, resolved once. @internal */
export interface ResolvedDiscoverOptions {
  pattern: RegExp
  instances: number | undefined
}

/** Validates the options of discovery; throws `VALIDATION_FAILED` naming the field. @internal */
export function resolveDiscoverOptions(fn: string, options: object): ResolvedDiscoverOptions {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path.join('.') ?? ''
    throw new FlotillaError('VALIDATION_FAILED', `${fn}: invalid option "${path}": ${issue?.message}.`, {
      details: { path },
    })
  }
  return { pattern: globToRegExp(parsed.data.pattern ?? DEFAULT_AGENT_PATTERN), instances: parsed.data.instances }
}

/** The change stamp of a file (`mtimeMs-size`), used as its cache-busting version; `undefined` when it is gone. @internal */
export async function fileStamp(file: string): Promise<string | undefined> {
  try {
    const s = await stat(file)
    return s.isFile() ? `${s.mtimeMs}-${s.size}` : undefined
  } catch {
    return undefined
  }
}

/**
 * Imports `file` and registers its definitions in place of `previous`;
 * returns them, or the failure (the registry then holds `previous`). @internal
 */
export async function loadAgentFile(
  registry: Registry,
  file: string,
  stamp: string | undefined,
  previous: readonly AnyAgentDefinition[],
  instances: number | undefined,
): Promise<{ ok: true; definitions: AnyAgentDefinition[] } | { ok: false; failure: DiscoveryFailure }> {
  try {
    const definitions = await importAgentFile(file, stamp)
    await applyDefinitions(registry, previous, definitions, instances)
    return { ok: true, definitions }
  } catch (e) {
    const err = toFlotillaError(e, 'MODULE_LOAD_FAILED')
    const message = err.message.includes(file) ? err.message : `${file}: ${err.message}`
    const failure: DiscoveryFailure = { file, code: err.code, message }
    const { line, column } = err.details
    if (typeof line === 'number') failure.line = line
    if (typeof column === 'number') failure.column = column
    return { ok: false, failure }
  }
}

/**
 * Loads every agent module under `folder` whose relative path matches
 * `pattern` and registers each agent definition it exports (named exports,
 * arrays, default export). Never stops at a bad file: each one that fails
 * to import, exports no agents, holds an invalid definition or a duplicate
 * is reported in `failed` with its code, and a file registers all its
 * agents or none. Files load in path order. Throws `FILE_NOT_FOUND` when
 * `folder` is not a folder and `VALIDATION_FAILED` for bad options.
 *
 * Files are imported with `?v=<mtime>-<size>` so that a changed file is
 * read afresh; to follow changes, use {@link watchAgents}.
 *
 * @example
 * ```ts
 * const report = await discoverAgents(registry, './agents')
 * for (const f of report.failed) console.error(`${f.file}: [${f.code}] ${f.message}`)
 * ```
 */
export async function discoverAgents(
  registry: Registry,
  folder: string,
  options: DiscoverAgentsOptions = {},
): Promise<AgentDiscoveryReport> {
  const resolved = resolveDiscoverOptions('discoverAgents', options)
  const { report } = await loadAgentFolder(registry, folder, resolved)
  return report
}

/** {@link discoverAgents}, also returning the definitions each file registered. @internal */
export async function loadAgentFolder(
  registry: Registry,
  folder: string,
  options: ResolvedDiscoverOptions,
): Promise<{
  report: AgentDiscoveryReport
  owned: Map<string, { stamp: string | undefined; definitions: AnyAgentDefinition[] }>
}> {
  const files = await listMatchingFiles(folder, options.pattern)
  const report: AgentDiscoveryReport = { loaded: [], failed: [] }
  const owned = new Map<string, { stamp: string | undefined; definitions: AnyAgentDefinition[] }>()
  for (const file of files) {
    const stamp = await fileStamp(file)
    const result = await loadAgentFile(registry, file, stamp, [], options.instances)
    if (result.ok) {
      report.loaded.push({ file, agents: result.definitions.map(agentKey) })
      owned.set(file, { stamp, definitions: result.definitions })
    } else {
      report.failed.push(result.failure)
      owned.set(file, { stamp, definitions: [] })
    }
  }
  return { report, owned }
}
