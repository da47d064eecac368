/**
 * The lookup side of a `Registry`: which agent versions are registered,
 * indexed by name and version, by capability and by tag, and how a name or
 * a selector resolves to them (the latest version when none is given). It
 * only indexes; starting and stopping instances, pools and draining are the
 * `Registry`'s.
 */
import { FlotillaError } from '../core/errors.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import type { AgentInstance } from './agent-instance.js'
import type { AgentSelector } from './agent-pool.js'
import { compareSemver } from './semver.js'

/** One registered agent version: its definition and its started instances. */
export interface RegistryEntry {
  readonly definition: AnyAgentDefinition
  readonly instances: AgentInstance[]
}

/** The index of the fully started registrations of a `Registry`, by name and version, capability and tag. */
export class RegistryCatalog {
  /** name → version → entry, registration order. */
  private readonly byName = new Map<string, Map<string, RegistryEntry>>()
  private readonly byCapability = new Map<string, Set<RegistryEntry>>()
  private readonly byTag = new Map<string, Set<RegistryEntry>>()

  /** Indexes `entry` under its name, version, capabilities and tags (replacing an entry of the same version). */
  add(entry: RegistryEntry): void {
    const { name, version, capabilities, tags } = entry.definition
    let versions = this.byName.get(name)
    if (!versions) this.byName.set(name, (versions = new Map()))
    versions.set(version, entry)
    for (const cap of capabilities) addToIndex(this.byCapability, cap, entry)
    for (const tag of tags) addToIndex(this.byTag, tag, entry)
  }

  /** Takes `entry` out of every index (its version slot only if it still holds `entry`). */
  remove(entry: RegistryEntry): void {
    const { name, version, capabilities, tags } = entry.definition
    const versions = this.byName.get(name)
    if (versions?.get(version) === entry) versions.delete(version)
    if (versions?.size === 0) this.byName.delete(name)
    for (const cap of capabilities) removeFromIndex(this.byCapability, cap, entry)
    for (const tag of tags) removeFromIndex(this.byTag, tag, entry)
  }

  /** The entry of `name` at `version`, or of its latest version when `version` is omitted. */
  find(name: string, version?: string): RegistryEntry | undefined {
    return version === undefined ? this.latest(name) : this.byName.get(name)?.get(version)
  }

  /** The entry of the highest version of `name` (semantic-version order). */
  latest(name: string): RegistryEntry | undefined {
    let best: RegistryEntry | undefined
    for (const e of this.byName.get(name)?.values() ?? []) {
      if (!best || compareSemver(e.definition.version, best.definition.version) > 0) best = e
    }
    return best
  }

  /** Every registered version of `name`, in order of registration. */
  versions(name: string): RegistryEntry[] {
    return [...(this.byName.get(name)?.values() ?? [])]
  }

  /** Every entry, in order of registration grouped by name. */
  all(): RegistryEntry[] {
    const out: RegistryEntry[] = []
    for (const versions of this.byName.values()) out.push(...versions.values())
    return out
  }

  /** True when some version of `name` is registered. */
  has(name: string): boolean {
    return this.byName.has(name)
  }

  /** The entries offering `capability`, in order of registration. */
  withCapability(capability: string): RegistryEntry[] {
    return [...(this.byCapability.get(capability) ?? [])]
  }

  /** True when some entry offers `capability`. */
  hasCapability(capability: string): boolean {
    return (this.byCapability.get(capability)?.size ?? 0) > 0
  }

  /** The entries carrying `tag`, in order of registration. */
  withTag(tag: string): RegistryEntry[] {
    return [...(this.byTag.get(tag) ?? [])]
  }

  /** The entries matching a selector now, or `undefined` when none. */
  match(selector: AgentSelector): Iterable<RegistryEntry> | undefined {
    if ('capability' in selector) {
      const set = this.byCapability.get(selector.capability)
      return set && set.size > 0 ? set : undefined
    }
    const entry = this.find(selector.agent, selector.version)
    return entry ? [entry] : undefined
  }

  /** `AGENT_NOT_FOUND` for `what`, naming the agents that are registered. */
  notFound(what: string, details: Record<string, unknown>): FlotillaError {
    const names = [...this.byName.keys()]
    const known = names.length === 0 ? 'no agents are registered' : `registered: ${names.join(', ')}`
    return new FlotillaError(
      'AGENT_NOT_FOUND',
      `No registered agent matches ${what} (${known}). Register it first, or fix the name.`,
      {
        details: { ...details, registered: names },
      },
    )
  }
}

function addToIndex(index: Map<string, Set<RegistryEntry>>, key: string, entry: RegistryEntry): void {
  let set = index.get(key)
  if (!set) index.set(key, (set = new Set()))
  set.add(entry)
}

function removeFromIndex(index: Map<string, Set<RegistryEntry>>, key: string, entry: RegistryEntry): void {
  const set = index.get(key)
  set?.delete(entry)
  if (set?.size === 0) index.delete(key)
}
