import { FlotillaError } from '../../core/errors.js'
import type { AnyAgentDefinition } from '../../agents/define-agent.js'
import type { Registry } from '../registry.js'
import { maxSatisfying } from '../semver-range.js'

/**
 * The definition of the highest registered version of `name` that
 * satisfies `range` (see {@link satisfies} for the syntax: `1.2.3`,
 * `^1.2.0`, `~1.2.0`, `>=1.0.0 <2.0.0`, `1.x`, `*`, `a || b`). Throws
 * `AGENT_NOT_FOUND` when no version of `name` is registered,
 * `VERSION_NOT_SATISFIED` listing the registered versions when none
 * satisfies the range, and `VALIDATION_FAILED` for a malformed range.
 *
 * Pin the version it returns (`registry.pool({ agent, version })`) when a
 * run starts, so that later registrations do not move the run.
 *
 * @example
 * ```ts
 * const def = resolveVersion(registry, 'fixer', '^1.2.0')
 * const pool = registry.pool({ agent: def.name, version: def.version })
 * ```
 */
export function resolveVersion(registry: Registry, name: string, range: string): AnyAgentDefinition {
  const defs = registry.findByName(name)
  const versions = defs.map((d) => d.version)
  const best = maxSatisfying(versions, range)
  if (defs.length === 0) {
    throw new FlotillaError(
      'AGENT_NOT_FOUND',
      `No version of agent "${name}" is registered, so none satisfies "${range}". Register it first, or fix the name.`,
      {
        details: { agent: name, range, registered: [] },
      },
    )
  }
  if (best === undefined) {
    throw new FlotillaError(
      'VERSION_NOT_SATISFIED',
      `No registered version of agent "${name}" satisfies "${range}" (registered: ${versions.join(', ')}). Widen the range, or register a version inside it.`,
      { details: { agent: name, range, registered: versions } },
    )
  }
  return defs.find((d) => d.version === best)!
}
