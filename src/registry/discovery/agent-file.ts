import { pathToFileURL } from 'node:url'
import { FlotillaError, isFlotillaError } from '../../core/errors.js'
import { isAgentDefinition, type AnyAgentDefinition } from '../../agents/define-agent.js'
import type { Registry } from '../registry.js'
import { importFailureLocation } from './source-location.js'

/** `name@version` of a definition. */
export function agentKey(def: AnyAgentDefinition): string {
  return `${def.name}@${def.version}`
}

function firstLines(e: unknown): string {
  const message =
    e instanceof Error
      ? e.name === 'SyntaxError' && !e.message.startsWith('SyntaxError')
        ? `SyntaxError: ${e.message}`
        : e.message
      : String(e)
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(0, 2)
    .join(' ')
    .replace(/[.:]$/, '')
}

/**
 * Imports one module of agent definitions and returns every export made by
 * `defineAgent`: named exports, arrays of them, and a default export that
 * is one or a list. `version` is added to the URL as `?v=…` so that a
 * changed file is imported afresh (Node keeps every imported URL in its
 * module cache). Throws `MODULE_LOAD_FAILED` when the import fails (syntax
 * error, a throw at the top level; the message and `details.line`/`column`
 * say where, when the file itself holds the fault) or the module exports no agents; an
 * error the module throws that is already a `FlotillaError` (such as
 * `AGENT_INVALID` from `defineAgent`) keeps its code; `AGENT_DUPLICATE` when
 * two exports share a name and version.
 */
export async function importAgentFile(file: string, version?: string): Promise<AnyAgentDefinition[]> {
  const url = pathToFileURL(file).href + (version === undefined ? '' : `?v=${encodeURIComponent(version)}`)
  let mod: Record<string, unknown>
  try {
    mod = (await import(/* @vite-ignore */ url)) as Record<string, unknown>
  } catch (e) {
    if (isFlotillaError(e))
      throw new FlotillaError(e.code, `${file}: ${e.message}`, { cause: e, details: { ...e.details, file } })
    const at = await importFailureLocation(e, file)
    const where =
      at === undefined
        ? ''
        : ` (${at.file === file ? '' : `${at.file} `}line ${at.line}${at.column === undefined ? '' : `, column ${at.column}`})`
    const location =
      at === undefined
        ? {}
        : {
            line: at.line,
            ...(at.column === undefined ? {} : { column: at.column }),
            ...(at.file === file ? {} : { at: at.file }),
          }
    throw new FlotillaError(
      'MODULE_LOAD_FAILED',
      `Cannot import agents module ${file}: ${firstLines(e)}${where}. Fix the module (it must be JavaScript Node can import: .js/.mjs).`,
      {
        cause: e,
        details: { file, ...location },
      },
    )
  }
  const found = new Set<AnyAgentDefinition>()
  for (const value of Object.values(mod)) {
    if (isAgentDefinition(value)) found.add(value)
    else if (Array.isArray(value)) for (const item of value) if (isAgentDefinition(item)) found.add(item)
  }
  if (found.size === 0) {
    throw new FlotillaError(
      'MODULE_LOAD_FAILED',
      `Agents module ${file} exports no agent definitions (exports: ${Object.keys(mod).join(', ') || 'none'}). Export the results of defineAgent({...}) as named exports, an array, or the default export.`,
      { details: { file, exports: Object.keys(mod) } },
    )
  }
  const byKey = new Map<string, AnyAgentDefinition>()
  for (const def of found) {
    const key = agentKey(def)
    if (byKey.has(key)) {
      throw new FlotillaError(
        'AGENT_DUPLICATE',
        `Agents module ${file} exports two different definitions of "${key}": give one another name or version.`,
        {
          details: { file, agent: def.name, version: def.version },
        },
      )
    }
    byKey.set(key, def)
  }
  return [...found]
}

/**
 * Retires `def` gently if the registry still holds this very definition (not
 * one registered by someone else): `unregister(name, version, { drain: true })`,
 * so runs that pinned its pool finish on it.
 */
export function retire(registry: Registry, def: AnyAgentDefinition): boolean {
  if (registry.getDefinition(def.name, def.version) !== def) return false
  registry.unregister(def.name, def.version, { drain: true })
  return true
}

/**
 * Makes the registry hold `next` instead of `previous` (the definitions a
 * file held before; empty on a first load), all or nothing:
 *
 * 1. definitions with a new `name@version` are registered first, so a new
 *    version serves new work before the old one leaves;
 * 2. a definition whose `name@version` was already loaded from this file
 *    replaces the old one (`register(def, { replace: true })`): the new
 *    instances start, then take the old ones' place at once;
 * 3. old definitions the file no longer exports are retired.
 *
 * Old definitions are retired with `drain`: they leave lookups at once (new
 * runs get the new code), while runs that pinned their pool keep running
 * on them, with the same code, until they end; executions in flight finish
 * on the instance they acquired. When a registration fails, what this call
 * changed is undone (old definitions registered again) and the error is
 * rethrown (`AGENT_INVALID`, `AGENT_DUPLICATE`, `AGENT_INIT_FAILED`).
 */
export async function applyDefinitions(
  registry: Registry,
  previous: readonly AnyAgentDefinition[],
  next: readonly AnyAgentDefinition[],
  instances: number | undefined,
): Promise<void> {
  const prevByKey = new Map(previous.map((d) => [agentKey(d), d]))
  const nextKeys = new Set(next.map(agentKey))
  const added: AnyAgentDefinition[] = []
  const swapped: { old: AnyAgentDefinition; now: AnyAgentDefinition; oldWasLive: boolean }[] = []
  const options = instances === undefined ? {} : { instances }
  try {
    for (const def of next) {
      if (prevByKey.has(agentKey(def))) continue
      await registry.register(def, options)
      added.push(def)
    }
    for (const def of next) {
      const old = prevByKey.get(agentKey(def))
      if (old === undefined || old === def) continue
      const oldWasLive = registry.getDefinition(old.name, old.version) === old
      await registry.register(def, { ...options, replace: oldWasLive })
      swapped.push({ old, now: def, oldWasLive })
    }
  } catch (e) {
    for (const { old, now, oldWasLive } of swapped.reverse()) {
      const back = oldWasLive && registry.getDefinition(now.name, now.version) === now
      // Best effort: the old initialize may fail now; then the version is left out rather than half-swapped.
      if (
        !back ||
        !(await registry.register(old, { ...options, replace: true }).then(
          () => true,
          () => false,
        ))
      )
        retire(registry, now)
    }
    for (const def of added) retire(registry, def)
    throw e
  }
  for (const old of previous) if (!nextKeys.has(agentKey(old))) retire(registry, old)
}
