/**
 * The retired agent versions of a `Registry` that still drain: unregistered
 * (or replaced) with `drain` while runs had pinned their exact-version pool,
 * they keep serving those runs and stop once the last pin is released, or
 * at once when unregistered again without `drain`.
 */
import type { AgentPool } from './agent-pool.js'
import type { RegistryEntry } from './registry-catalog.js'
import type { DrainingVersion } from './registry-options.js'

/** One retired version and the pinned pool that still serves it. */
export interface Draining {
  readonly entry: RegistryEntry
  readonly pool: AgentPool
}

/** The versions draining in a `Registry`; `stop` stops an entry's instances once its drain ends. */
export class RegistryDrains {
  private readonly drains = new Set<Draining>()

  constructor(private readonly stop: (entry: RegistryEntry) => void) {}

  /** Keeps `entry` serving through its pinned `pool` until the pool's last pin is released. */
  begin(entry: RegistryEntry, pool: AgentPool): void {
    const d: Draining = { entry, pool }
    this.drains.add(d)
    pool.onUnpinned = () => this.finish(d)
  }

  /** Ends a drain now: its instances stop. Does nothing for one already ended. */
  finish(d: Draining): void {
    if (!this.drains.delete(d)) return
    d.pool.onUnpinned = undefined
    this.stop(d.entry)
  }

  /** The drains of `name` (of every version when `version` is omitted). */
  matching(name: string, version?: string): Draining[] {
    return [...this.drains].filter(
      (d) => d.entry.definition.name === name && (version === undefined || d.entry.definition.version === version),
    )
  }

  /** What drains now, as `Registry.draining()` reports it. */
  list(): DrainingVersion[] {
    return [...this.drains].map(({ entry, pool }) => ({
      agent: entry.definition.name,
      version: entry.definition.version,
      pins: pool.pins,
      instances: entry.instances.length,
    }))
  }
}
