import { AgentTemplates } from './agent-templates.js'
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { AgentId } from '../core/ids.js'
import { CircuitBreaker, type CircuitBreakerOptions } from '../resilience/circuit-breaker.js'
import { isAgentDefinition, type AnyAgentDefinition } from '../agents/define-agent.js'
import { AgentInstance, type HealthReport } from './agent-instance.js'
import { AgentPool, checkSelector, poolKey, type AgentSelector } from './agent-pool.js'
import type { LoadBalancingStrategy } from './load-balancer.js'
import { compareSemver, parseSemver } from './semver.js'
import { aggregateVersionMetrics, type AgentVersionMetrics } from './version-metrics.js'
import {
  instancesSchema,
  registryOptionsSchema,
  type DrainingVersion,
  type RegisterOptions,
  type RegistryOptions,
  type UnregisterOptions,
} from './registry-options.js'

export type { DrainingVersion, RegisterOptions, RegistryOptions, UnregisterOptions } from './registry-options.js'

interface Entry {
  readonly definition: AnyAgentDefinition
  readonly instances: AgentInstance[]
}

interface Draining {
  readonly entry: Entry
  readonly pool: AgentPool
}

/**
 * Agent definitions and their running instances: registration with
 * versions, lookup by name, capability or tag, routing through cached
 * {@link AgentPool}s with load balancing and circuit breakers, metrics and
 * health checks. A registration becomes visible only once all its instances
 * started.
 *
 * @example
 * ```ts
 * const registry = new Registry({ strategy: 'least-loaded' })
 * await registry.register(defineAgent({ name: 'fixer', capabilities: ['fix'], handler: fix }), { instances: 3 })
 * const pool = registry.pool({ capability: 'fix' })
 * const instance = pool.acquire() // an AgentInstance, or 'busy' | 'open' | 'none'
 * ```
 */
export class Registry {
  /** The agent templates agents are spawned from (`ctx.spawn({ template })`, plans). */
  readonly templates = new AgentTemplates()
  private readonly clock: Clock
  private readonly strategy: LoadBalancingStrategy
  private readonly breakerOptions: CircuitBreakerOptions | undefined
  /** name → version → entry, registration order. Holds only fully started registrations. */
  private readonly entries = new Map<string, Map<string, Entry>>()
  /** `name@version` keys being started, to refuse concurrent duplicates. */
  private readonly starting = new Set<string>()
  private readonly byCapability = new Map<string, Set<Entry>>()
  private readonly byTag = new Map<string, Set<Entry>>()
  private readonly byId = new Map<string, AgentInstance>()
  private readonly pools = new Map<string, AgentPool>()
  /** Retired versions whose pinned pool still serves runs. */
  private readonly drains = new Set<Draining>()
  private gen = 0

  constructor(options: RegistryOptions = {}) {
    const parsed = registryOptionsSchema.safeParse(options)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Invalid registry option "${issue?.path.join('.')}": ${issue?.message}.`,
        {
          details: { path: issue?.path.join('.') },
        },
      )
    }
    this.clock = options.clock ?? systemClock
    this.strategy = options.strategy ?? 'round-robin'
    this.breakerOptions = options.circuitBreaker
    new CircuitBreaker(this.clock, this.breakerOptions) // validates the options now rather than at the first registration
  }

  /**
   * Registers a definition and starts `instances` instances of it (running
   * `initialize`), then adds them to the pools that match. Several versions
   * of one name may be registered. Throws `AGENT_INVALID` for something not
   * made by `defineAgent`, `AGENT_DUPLICATE` when this name and version are
   * already registered (unless `replace`) or being registered now,
   * `AGENT_INIT_FAILED` when an instance fails to start (the others are
   * stopped and nothing is registered or replaced).
   */
  async register(definition: AnyAgentDefinition, options: RegisterOptions = {}): Promise<AgentInstance[]> {
    if (!isAgentDefinition(definition)) {
      throw new FlotillaError(
        'AGENT_INVALID',
        'register() needs an agent definition made by defineAgent({ name, handler, ... }).',
      )
    }
    const { name, version } = definition
    if (parseSemver(version) === undefined) {
      throw new FlotillaError(
        'AGENT_INVALID',
        `Agent "${name}": version "${version}" is not a semantic version like 1.2.0.`,
        { details: { agent: name, version } },
      )
    }
    const count = options.instances ?? definition.scaling?.min ?? 1
    if (!instancesSchema.safeParse(count).success) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `register("${name}"): instances must be a whole number from 1 to 10000, got ${String(count)}.`,
        {
          details: { agent: name, instances: String(count) },
        },
      )
    }
    const id = `${name}@${version}`
    if ((options.replace !== true && this.entries.get(name)?.has(version)) || this.starting.has(id)) {
      throw new FlotillaError(
        'AGENT_DUPLICATE',
        `Agent "${id}" is already registered: unregister it first, or give the new definition another version.`,
        {
          details: { agent: name, version },
        },
      )
    }
    this.starting.add(id)
    const instances: AgentInstance[] = []
    try {
      for (let i = 0; i < count; i++)
        instances.push(
          new AgentInstance(definition, { clock: this.clock, circuitBreaker: this.breakerOptions, index: i }),
        )
      const results = await Promise.allSettled(instances.map((inst) => inst.start()))
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failure) {
        for (const inst of instances) inst.stop()
        throw failure.reason
      }
    } finally {
      this.starting.delete(id)
    }
    const replaced = this.entries.get(name)?.get(version)
    if (replaced !== undefined) this.retire(replaced, true)
    this.add({ definition, instances })
    return [...instances]
  }

  /**
   * Unregisters one version of an agent, or every version when `version` is
   * omitted. By default its instances become STOPPED and leave every pool at
   * once (executions in flight finish and may still be released), and
   * versions still draining from an earlier `drain` stop too. With `drain`,
   * runs that pinned its pool keep being served until they release it (see
   * {@link UnregisterOptions}). Throws `AGENT_NOT_FOUND` when nothing matches.
   */
  unregister(name: string, version?: string, options: UnregisterOptions = {}): void {
    const drain = options.drain === true
    const versions = this.entries.get(name)
    const targets =
      versions === undefined
        ? []
        : version === undefined
          ? [...versions.values()]
          : [versions.get(version)].filter((e) => e !== undefined)
    const matches = (d: Draining): boolean =>
      d.entry.definition.name === name && (version === undefined || d.entry.definition.version === version)
    const drained = drain ? [] : [...this.drains].filter(matches)
    if (targets.length === 0 && drained.length === 0)
      throw this.notFound(version === undefined ? name : `${name}@${version}`, { agent: name, version })
    for (const entry of targets) this.retire(entry, drain)
    for (const d of drained) this.finishDrain(d)
  }

  /** Retired versions still serving the runs that pinned their pool (see {@link UnregisterOptions.drain}). */
  draining(): DrainingVersion[] {
    return [...this.drains].map(({ entry, pool }) => ({
      agent: entry.definition.name,
      version: entry.definition.version,
      pins: pool.pins,
      instances: entry.instances.length,
    }))
  }

  /** Every registered definition, in order of registration (grouped by name). */
  definitions(): AnyAgentDefinition[] {
    const out: AnyAgentDefinition[] = []
    for (const versions of this.entries.values()) for (const e of versions.values()) out.push(e.definition)
    return out
  }

  /** The definition of `name` at `version`, or its latest version when omitted; `undefined` if none. */
  getDefinition(name: string, version?: string): AnyAgentDefinition | undefined {
    return (version === undefined ? this.latest(name) : this.entries.get(name)?.get(version))?.definition
  }

  /** True when some version of `name` is registered. */
  has(name: string): boolean {
    return this.entries.has(name)
  }

  /** True when some registered agent offers `capability`. */
  hasCapability(capability: string): boolean {
    return (this.byCapability.get(capability)?.size ?? 0) > 0
  }

  /** Every registered version of `name`, newest first. */
  findByName(name: string): AnyAgentDefinition[] {
    const versions = this.entries.get(name)
    if (!versions) return []
    return [...versions.values()].map((e) => e.definition).sort((a, b) => compareSemver(b.version, a.version))
  }

  /** Every registered definition offering `capability`, in order of registration. */
  findByCapability(capability: string): AnyAgentDefinition[] {
    return [...(this.byCapability.get(capability) ?? [])].map((e) => e.definition)
  }

  /** Every registered definition carrying `tag`, in order of registration. */
  findByTag(tag: string): AnyAgentDefinition[] {
    return [...(this.byTag.get(tag) ?? [])].map((e) => e.definition)
  }

  /**
   * The pool serving `selector`, created on the first call and cached; it
   * follows later registrations and unregistrations (an agent selector
   * without version always holds the instances of the latest version; a
   * capability pool holds the instances of every version offering it).
   * Throws `AGENT_NOT_FOUND` when nothing registered matches now, and
   * `VALIDATION_FAILED` for a malformed selector.
   */
  pool(input: AgentSelector): AgentPool {
    const selector = checkSelector(input)
    const key = poolKey(selector)
    const members = this.match(selector)
    if (members === undefined) {
      const what = 'capability' in selector ? `capability "${selector.capability}"` : key.slice('agent:'.length)
      throw this.notFound(what, { ...selector })
    }
    let pool = this.pools.get(key)
    if (!pool) {
      pool = new AgentPool(selector, this.strategy)
      for (const entry of members) for (const inst of entry.instances) pool.add(inst)
      this.pools.set(key, pool)
    }
    return pool
  }

  /**
   * Starts one more instance of a registered agent (its latest version, or
   * `version`) and adds it to the agent's pools — what auto-scaling calls.
   * `AGENT_NOT_FOUND` when nothing matches; `AGENT_INIT_FAILED` when it fails
   * to start (nothing is added).
   */
  async addInstance(name: string, version?: string): Promise<AgentInstance> {
    const entry = version === undefined ? this.latest(name) : this.entries.get(name)?.get(version)
    if (entry === undefined) throw this.notFound(version === undefined ? name : `${name}@${version}`, { agent: name })
    const index = entry.instances.reduce((m, i) => Math.max(m, i.info.index + 1), 0)
    const inst = new AgentInstance(entry.definition, { clock: this.clock, circuitBreaker: this.breakerOptions, index })
    await inst.start()
    if (this.entries.get(name)?.get(entry.definition.version) !== entry) {
      inst.stop() // unregistered or replaced while it started
      throw this.notFound(`${name}@${entry.definition.version}`, { agent: name })
    }
    entry.instances.push(inst)
    this.byId.set(inst.id, inst)
    const { capabilities } = entry.definition
    const keys = [
      poolKey({ agent: name, version: entry.definition.version }),
      ...capabilities.map((c) => poolKey({ capability: c })),
    ]
    for (const key of keys) this.pools.get(key)?.add(inst)
    this.refreshLatest(name)
    return inst
  }

  /**
   * Stops an instance and takes it out of every pool, if it runs nothing
   * and is not its agent's last instance — what auto-scaling calls. False
   * (and nothing changed) otherwise.
   */
  removeInstance(id: AgentId | string): boolean {
    const inst = this.byId.get(id)
    if (inst === undefined || inst.active > 0) return false
    const entry = this.entries.get(inst.definition.name)?.get(inst.definition.version)
    if (entry === undefined || entry.instances.length <= 1 || !entry.instances.includes(inst)) return false
    entry.instances.splice(entry.instances.indexOf(inst), 1)
    this.byId.delete(inst.id)
    for (const pool of [...inst.pools]) pool.remove(inst)
    inst.stop()
    return true
  }

  /** Every instance of every registered agent, and of retired versions still draining (see {@link Registry.draining}). */
  instances(): AgentInstance[] {
    return [...this.byId.values()]
  }

  /** The instance with this id, if registered. */
  getInstance(id: AgentId | string): AgentInstance | undefined {
    return this.byId.get(id)
  }

  /**
   * Metrics per agent version, keyed `name@version`, aggregated over its
   * instances: calls and errors summed, mean latency weighted by calls,
   * p95 the highest instance p95 (an upper bound, not a merged percentile),
   * circuit the worst instance circuit.
   */
  metrics(): Record<string, AgentVersionMetrics> {
    const out: Record<string, AgentVersionMetrics> = {}
    for (const versions of this.entries.values()) {
      for (const { definition, instances } of versions.values())
        out[`${definition.name}@${definition.version}`] = aggregateVersionMetrics(definition, instances)
    }
    return out
  }

  /** Checks every instance at once (see {@link AgentInstance.checkHealth}); keyed by instance id. */
  async healthCheckAll(): Promise<Record<string, HealthReport>> {
    const all = this.instances()
    const reports = await Promise.all(all.map((inst) => inst.checkHealth()))
    const out: Record<string, HealthReport> = {}
    all.forEach((inst, i) => (out[inst.id] = reports[i]))
    return out
  }

  private add(entry: Entry): void {
    const { name, version, capabilities, tags } = entry.definition
    let versions = this.entries.get(name)
    if (!versions) this.entries.set(name, (versions = new Map()))
    versions.set(version, entry)
    for (const cap of capabilities) addToIndex(this.byCapability, cap, entry)
    for (const tag of tags) addToIndex(this.byTag, tag, entry)
    for (const inst of entry.instances) this.byId.set(inst.id, inst)
    const keys = [poolKey({ agent: name, version }), ...capabilities.map((capability) => poolKey({ capability }))]
    for (const key of keys) {
      const pool = this.pools.get(key)
      if (pool) for (const inst of entry.instances) pool.add(inst)
    }
    this.refreshLatest(name)
  }

  /**
   * Takes `entry` out of lookups and shared pools. With `drain`, when its
   * exact-version pool is pinned, that pool is detached (a later `pool()`
   * builds a new one) and keeps the instances until its last pin goes;
   * otherwise the instances stop now.
   */
  private retire(entry: Entry, drain: boolean): void {
    const { name, version, capabilities, tags } = entry.definition
    const versions = this.entries.get(name)
    if (versions?.get(version) === entry) versions.delete(version)
    if (versions?.size === 0) this.entries.delete(name)
    for (const cap of capabilities) removeFromIndex(this.byCapability, cap, entry)
    for (const tag of tags) removeFromIndex(this.byTag, tag, entry)
    const key = poolKey({ agent: name, version })
    const pinned = drain ? this.pools.get(key) : undefined
    if (pinned !== undefined && pinned.pins > 0) {
      this.pools.delete(key)
      for (const inst of entry.instances) for (const pool of [...inst.pools]) if (pool !== pinned) pool.remove(inst)
      const d: Draining = { entry, pool: pinned }
      this.drains.add(d)
      pinned.onUnpinned = () => this.finishDrain(d)
    } else {
      this.stopEntry(entry)
    }
    this.refreshLatest(name)
  }

  private finishDrain(d: Draining): void {
    if (!this.drains.delete(d)) return
    d.pool.onUnpinned = undefined
    this.stopEntry(d.entry)
  }

  private stopEntry(entry: Entry): void {
    for (const inst of entry.instances) {
      inst.stop()
      for (const pool of [...inst.pools]) pool.remove(inst)
      this.byId.delete(inst.id)
    }
  }

  /** Grows whenever a definition is registered or removed: a cache of resolved pools is stale when it changed. */
  get generation(): number {
    return this.gen
  }

  /** Refills the cached `agent:NAME` pool with the instances of the latest version. */
  private refreshLatest(name: string): void {
    this.gen++
    const pool = this.pools.get(poolKey({ agent: name }))
    if (!pool) return
    const latest = this.latest(name)
    if (
      latest &&
      pool.instances.length === latest.instances.length &&
      latest.instances.every((inst) => inst.pools.has(pool))
    )
      return
    pool.clear()
    if (latest) for (const inst of latest.instances) pool.add(inst)
  }

  private latest(name: string): Entry | undefined {
    let best: Entry | undefined
    for (const e of this.entries.get(name)?.values() ?? []) {
      if (!best || compareSemver(e.definition.version, best.definition.version) > 0) best = e
    }
    return best
  }

  /** The entries matching a selector now, or `undefined` when none. */
  private match(selector: AgentSelector): Iterable<Entry> | undefined {
    if ('capability' in selector) {
      const set = this.byCapability.get(selector.capability)
      return set && set.size > 0 ? set : undefined
    }
    const entry =
      selector.version === undefined
        ? this.latest(selector.agent)
        : this.entries.get(selector.agent)?.get(selector.version)
    return entry ? [entry] : undefined
  }

  private notFound(what: string, details: Record<string, unknown>): FlotillaError {
    const names = [...this.entries.keys()]
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

function addToIndex(index: Map<string, Set<Entry>>, key: string, entry: Entry): void {
  let set = index.get(key)
  if (!set) index.set(key, (set = new Set()))
  set.add(entry)
}

function removeFromIndex(index: Map<string, Set<Entry>>, key: string, entry: Entry): void {
  const set = index.get(key)
  set?.delete(entry)
  if (set?.size === 0) index.delete(key)
}
