import { AgentTemplates } from './agent-templates.js'
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { AgentId } from '../core/ids.js'
import { CircuitBreaker, type CircuitBreakerOptions } from '../resilience/circuit-breaker.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import { AgentInstance, type HealthReport } from './agent-instance.js'
import { AgentPool, checkSelector, poolKey, type AgentSelector } from './agent-pool.js'
import type { LoadBalancingStrategy } from './load-balancer.js'
import { RegistryCatalog, type RegistryEntry } from './registry-catalog.js'
import { RegistryDrains } from './registry-drains.js'
import { checkRegistration, checkRegistryOptions, startInstances } from './registration.js'
import { compareSemver } from './semver.js'
import { aggregateVersionMetrics, type AgentVersionMetrics } from './version-metrics.js'
import type { DrainingVersion, RegisterOptions, RegistryOptions, UnregisterOptions } from './registry-options.js'

export type { DrainingVersion, RegisterOptions, RegistryOptions, UnregisterOptions } from './registry-options.js'

/**
 * Agent definitions and their running instances: registration with
 * versions, lookup by name, capability or tag, routing through cached
 * {@link AgentPool}s with load balancing and circuit breakers, metrics and
 * health checks. A registration becomes visible only once all its instances
 * started. Its parts: the indexes agents are looked up in
 * (`registry-catalog.ts`), the checks and start of a registration
 * (`registration.ts`) and the retired versions still draining
 * (`registry-drains.ts`); this class ties them to the instances and pools.
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
  /** Holds only fully started registrations. */
  private readonly catalog = new RegistryCatalog()
  /** `name@version` keys being started, to refuse concurrent duplicates. */
  private readonly starting = new Set<string>()
  /** Every instance, those of retired versions still draining included. */
  private readonly byId = new Map<string, AgentInstance>()
  private readonly pools = new Map<string, AgentPool>()
  /** Retired versions whose pinned pool still serves runs. */
  private readonly drains = new RegistryDrains((entry) => this.stopEntry(entry))
  private gen = 0

  constructor(options: RegistryOptions = {}) {
    checkRegistryOptions(options)
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
    const count = checkRegistration(definition, options)
    const { name, version } = definition
    const id = `${name}@${version}`
    if ((options.replace !== true && this.catalog.find(name, version) !== undefined) || this.starting.has(id)) {
      throw new FlotillaError(
        'AGENT_DUPLICATE',
        `Agent "${id}" is already registered: unregister it first, or give the new definition another version.`,
        {
          details: { agent: name, version },
        },
      )
    }
    this.starting.add(id)
    let instances: AgentInstance[]
    try {
      instances = await startInstances(definition, count, { clock: this.clock, circuitBreaker: this.breakerOptions })
    } finally {
      this.starting.delete(id)
    }
    const replaced = this.catalog.find(name, version)
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
    const targets =
      version === undefined
        ? this.catalog.versions(name)
        : [this.catalog.find(name, version)].filter((e) => e !== undefined)
    const drained = drain ? [] : this.drains.matching(name, version)
    if (targets.length === 0 && drained.length === 0)
      throw this.catalog.notFound(version === undefined ? name : `${name}@${version}`, { agent: name, version })
    for (const entry of targets) this.retire(entry, drain)
    for (const d of drained) this.drains.finish(d)
  }

  /** Retired versions still serving the runs that pinned their pool (see {@link UnregisterOptions.drain}). */
  draining(): DrainingVersion[] {
    return this.drains.list()
  }

  /** Every registered definition, in order of registration (grouped by name). */
  definitions(): AnyAgentDefinition[] {
    return this.catalog.all().map((e) => e.definition)
  }

  /** The definition of `name` at `version`, or its latest version when omitted; `undefined` if none. */
  getDefinition(name: string, version?: string): AnyAgentDefinition | undefined {
    return this.catalog.find(name, version)?.definition
  }

  /** True when some version of `name` is registered. */
  has(name: string): boolean {
    return this.catalog.has(name)
  }

  /** True when some registered agent offers `capability`. */
  hasCapability(capability: string): boolean {
    return this.catalog.hasCapability(capability)
  }

  /** Every registered version of `name`, newest first. */
  findByName(name: string): AnyAgentDefinition[] {
    return this.catalog
      .versions(name)
      .map((e) => e.definition)
      .sort((a, b) => compareSemver(b.version, a.version))
  }

  /** Every registered definition offering `capability`, in order of registration. */
  findByCapability(capability: string): AnyAgentDefinition[] {
    return this.catalog.withCapability(capability).map((e) => e.definition)
  }

  /** Every registered definition carrying `tag`, in order of registration. */
  findByTag(tag: string): AnyAgentDefinition[] {
    return this.catalog.withTag(tag).map((e) => e.definition)
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
    const members = this.catalog.match(selector)
    if (members === undefined) {
      const what = 'capability' in selector ? `capability "${selector.capability}"` : key.slice('agent:'.length)
      throw this.catalog.notFound(what, { ...selector })
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
    const entry = this.catalog.find(name, version)
    if (entry === undefined)
      throw this.catalog.notFound(version === undefined ? name : `${name}@${version}`, { agent: name })
    const index = entry.instances.reduce((m, i) => Math.max(m, i.info.index + 1), 0)
    const inst = new AgentInstance(entry.definition, { clock: this.clock, circuitBreaker: this.breakerOptions, index })
    await inst.start()
    if (this.catalog.find(name, entry.definition.version) !== entry) {
      inst.stop() // unregistered or replaced while it started
      throw this.catalog.notFound(`${name}@${entry.definition.version}`, { agent: name })
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
    const entry = this.catalog.find(inst.definition.name, inst.definition.version)
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
    for (const { definition, instances } of this.catalog.all())
      out[`${definition.name}@${definition.version}`] = aggregateVersionMetrics(definition, instances)
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

  private add(entry: RegistryEntry): void {
    const { name, version, capabilities } = entry.definition
    this.catalog.add(entry)
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
  private retire(entry: RegistryEntry, drain: boolean): void {
    const { name, version } = entry.definition
    this.catalog.remove(entry)
    const key = poolKey({ agent: name, version })
    const pinned = drain ? this.pools.get(key) : undefined
    if (pinned !== undefined && pinned.pins > 0) {
      this.pools.delete(key)
      for (const inst of entry.instances) for (const pool of [...inst.pools]) if (pool !== pinned) pool.remove(inst)
      this.drains.begin(entry, pinned)
    } else {
      this.stopEntry(entry)
    }
    this.refreshLatest(name)
  }

  private stopEntry(entry: RegistryEntry): void {
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
    const latest = this.catalog.latest(name)
    if (
      latest &&
      pool.instances.length === latest.instances.length &&
      latest.instances.every((inst) => inst.pools.has(pool))
    )
      return
    pool.clear()
    if (latest) for (const inst of latest.instances) pool.add(inst)
  }
}
