import { rm } from 'node:fs/promises'
import { systemClock, type Clock } from '../core/clock.js'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { AgentState } from '../core/states.js'
import { AgentMetrics } from '../agents/agent-metrics.js'
import { PermissionSet } from '../security/permissions.js'
import type { AgentRecord } from '../store/records.js'
import { AgentCalls } from './agent-calls.js'
import { info } from './agent-directory.js'
import { AgentTree } from './agent-tree.js'
import { notRunningError } from './command-guards.js'
import { checkDeployment, planDeployment } from './deploy-plan.js'
import { agentUsage } from './agent-usage.js'
import { assertTransition } from './lifecycle.js'
import { carveLimits, parseLimits, storedLimits } from './limits.js'
import { deployRequestOf, enterLineage, type LiveAgent } from './live-agent.js'
import { TreeBudgets, type TreeBudgetState } from './tree-budget.js'
import type { ExecuteOptions, ResourceLimits, Runtime, RuntimeExit, RuntimeHooks } from './runtime.js'
import type {
  AgentDeployment,
  AgentInfo,
  AgentUsage,
  DeployOptions,
  SupervisorEvent,
  SupervisorOptions,
} from './supervisor-types.js'

/**
 * Deploys agents on runtimes and governs them: the lifecycle state machine
 * (every transition stored before it is reported), parent–child trees
 * (children carved from their parent's permissions and limits, terminated
 * before their parent, cleaned up when their parent fails), commands,
 * usage and metrics. The queries over its live tree are {@link AgentTree}'s
 * (`agent-tree.ts`); what a deploy settles before it starts is
 * `deploy-plan.ts`'s.
 *
 * @example
 * ```ts
 * const supervisor = new AgentSupervisor({ store, runtimes: [new ProcessRuntime()], workspaceRoot: '.flotilla/agents' })
 * const agent = await supervisor.deploy(await loadAgentSpec('worker.agent.json'))
 * await supervisor.execute(agent.id, { folder: 'data' })
 * await supervisor.terminate(agent.id)
 * ```
 */
export class AgentSupervisor extends AgentTree {
  private readonly runtimes = new Map<string, Runtime>()
  private readonly clock: Clock
  /** Serves the ctx service calls of the agents. */
  private readonly calls: AgentCalls
  /** The model budgets of the agent trees (`budget.tree`). */
  private readonly budgets: TreeBudgets
  private closed = false

  constructor(private readonly options: SupervisorOptions) {
    super(options.store, () => (options.clock ?? systemClock).wallNow())
    for (const r of options.runtimes) this.runtimes.set(r.kind, r)
    if (this.runtimes.size === 0)
      throw new FlotillaError('VALIDATION_FAILED', 'An AgentSupervisor needs at least one runtime.', {
        details: { field: 'runtimes' },
      })
    this.clock = options.clock ?? systemClock
    this.budgets = new TreeBudgets((c) =>
      this.emit({
        type: 'agent.event',
        agentId: c.agentId,
        name: c.name,
        event: {
          type: 'budget.warning',
          data: { agent: c.name, scope: 'tree', measure: c.measure, spent: c.spent, limit: c.limit },
        },
        at: this.clock.wallNow(),
      }),
    )
    this.calls = new AgentCalls({
      budgets: this.budgets,
      deploy: (deployment, o) => this.deploy(deployment, o),
      execute: (agentId, input) => this.execute(agentId, input),
      terminate: (agentId, reason) => this.terminate(agentId, reason),
      live: (agentId) => this.live.get(agentId),
      services: options.services,
      spawnTemplate: options.spawnTemplate,
    })
  }

  /** Deploys an agent (as a child when `parentId` is given) and resolves once it is RUNNING. */
  async deploy(deployment: AgentDeployment, options: DeployOptions = {}): Promise<AgentInfo> {
    if (this.closed)
      throw new FlotillaError('AGENT_STATE_INVALID', 'The supervisor is closed; it deploys no more agents.')
    checkDeployment(deployment)
    const parent = options.parentId === undefined ? undefined : this.requireLive(options.parentId)
    const { record, permissions, treeBudget, runtime, workspace } = planDeployment({
      deployment,
      options,
      parent,
      runtimes: this.runtimes,
      supervisor: this.options,
      now: () => this.clock.wallNow(),
    })
    const { id, name, createdAt: at } = record
    // Reserved before the first await, so two children spawned at once cannot both take what is left.
    this.budgets.open(id, name, parent?.record.id, treeBudget)
    try {
      await this.options.store.saveAgent(record, { from: null, to: 'PENDING', reason: 'deploy', at })
    } catch (err) {
      this.budgets.close(id)
      throw err
    }
    const entry: LiveAgent = {
      record,
      deployment,
      runtime,
      workspace,
      ownWorkspace: options.workspace === undefined && parent === undefined,
      perms: new PermissionSet(permissions),
      handle: undefined,
      metrics: new AgentMetrics(),
      lock: Promise.resolve(),
      services: undefined,
    }
    this.live.set(id, entry)
    this.emit({ type: 'agent.state', agentId: id, name, from: null, to: 'PENDING', reason: 'deploy', at })
    try {
      entry.handle = await runtime.deploy(deployRequestOf(entry), this.hooks(entry))
    } catch (err) {
      const error = toFlotillaError(err, 'AGENT_DEPLOY_FAILED')
      await this.transition(entry, 'TERMINATED', `deploy failed: ${error.message}`)
      this.live.delete(id)
      this.budgets.close(id)
      if (entry.ownWorkspace) await rm(workspace, { recursive: true, force: true }).catch(() => undefined)
      throw error
    }
    try {
      await this.transition(entry, 'RUNNING', null, { pid: entry.handle.pid ?? null })
    } catch (err) {
      await entry.handle.terminate('terminated while starting') // terminated while PENDING: leave nothing running
      throw err
    }
    return info(entry.record)
  }

  /** Runs a command (the agent's handler on `input`) and resolves with its output. */
  async execute(agentId: string, input: unknown, options: ExecuteOptions = {}): Promise<unknown> {
    const entry = this.requireLive(agentId)
    const { state } = entry.record
    if (state !== 'RUNNING' || !entry.handle) throw notRunningError(entry.record)
    const started = this.clock.now()
    const leave = enterLineage(entry, options.runId, options.taskId)
    try {
      const out = await entry.handle.execute(input, options)
      entry.metrics.record(this.clock.now() - started, true)
      return out
    } catch (err) {
      entry.metrics.record(this.clock.now() - started, false)
      entry.metrics.recordError(err instanceof Error ? err.message : String(err))
      throw err
    } finally {
      leave()
    }
  }

  /** RUNNING → PAUSED: the agent stops running until {@link resume}. */
  async pause(agentId: string): Promise<AgentInfo> {
    const entry = this.requireLive(agentId)
    assertTransition(agentId, entry.record.state, 'PAUSED', 'pause')
    await entry.handle?.pause()
    await this.transition(entry, 'PAUSED', 'paused')
    return info(entry.record)
  }

  /** PAUSED → RUNNING. */
  async resume(agentId: string): Promise<AgentInfo> {
    const entry = this.requireLive(agentId)
    if (entry.record.state !== 'PAUSED') assertTransition(agentId, entry.record.state, 'PAUSED', 'resume') // only a paused agent resumes
    assertTransition(agentId, entry.record.state, 'RUNNING', 'resume')
    await entry.handle?.resume()
    await this.transition(entry, 'RUNNING', 'resumed')
    return info(entry.record)
  }

  /**
   * Changes the agent's resource limits (within its parent's, and not below
   * any child's); `RESOURCE_LIMIT_EXCEEDED` otherwise. The change is stored
   * as a transition to the same state.
   */
  async scale(agentId: string, limits: ResourceLimits): Promise<AgentInfo> {
    const entry = this.requireLive(agentId)
    if (entry.record.state === 'TERMINATED') assertTransition(agentId, 'TERMINATED', 'RUNNING', 'be scaled')
    const parent = entry.record.parentId ? this.live.get(entry.record.parentId) : undefined
    const next = parent ? carveLimits(storedLimits(parent.record), limits, entry.record.name) : parseLimits(limits)
    for (const child of this.liveChildren(agentId)) carveLimits(next, storedLimits(child.record), child.record.name)
    await entry.handle?.scale(next)
    await this.transition(entry, entry.record.state, `scaled to ${JSON.stringify(next)}`, { limits: { ...next } })
    return info(entry.record)
  }

  /** Scales the agent back to the limits of its spec (or the supervisor's defaults). */
  resetLimits(agentId: string): Promise<AgentInfo> {
    const entry = this.requireLive(agentId)
    return this.scale(agentId, entry.deployment.limits ?? this.options.defaultLimits ?? {})
  }

  /** FAILED → PENDING → RUNNING: starts a failed agent again with the same id, spec and workspace. */
  async restart(agentId: string): Promise<AgentInfo> {
    const entry = this.requireLive(agentId)
    assertTransition(agentId, entry.record.state, 'PENDING', 'restart')
    await this.transition(entry, 'PENDING', 'restart')
    try {
      entry.handle = await entry.runtime.deploy(deployRequestOf(entry), this.hooks(entry))
    } catch (err) {
      const error = toFlotillaError(err, 'AGENT_DEPLOY_FAILED')
      await this.transition(entry, 'FAILED', `restart failed: ${error.message}`)
      throw error
    }
    await this.transition(entry, 'RUNNING', null, { pid: entry.handle.pid ?? null })
    return info(entry.record)
  }

  /** Terminates the agent and its whole subtree, children first. Idempotent. */
  async terminate(agentId: string, reason = 'terminated'): Promise<void> {
    if (this.isForgotten(agentId)) return
    const entry = this.requireLive(agentId)
    for (const child of this.liveChildren(agentId))
      await this.terminate(child.record.id, `parent ${agentId} terminated`)
    if (entry.record.state === 'TERMINATED') return
    const handle = entry.handle
    entry.handle = undefined
    await handle?.terminate(reason)
    await this.transition(entry, 'TERMINATED', reason, { pid: null })
    this.budgets.close(agentId)
    this.calls.forget(agentId)
    this.forget(agentId)
  }

  /**
   * The agent's own model budget for its tree (`budget.tree`): per measure,
   * the limit, what it and its subtree spent, what is reserved for children
   * with their own budget, the worst cases in flight, and what is left.
   * `undefined` for an agent deployed without one.
   */
  treeBudget(agentId: string): TreeBudgetState | undefined {
    this.requireLive(agentId)
    return this.budgets.state(agentId)
  }

  /** Terminates the children of an agent (and their subtrees), not the agent. */
  async terminateChildren(agentId: string, reason = `parent ${agentId} terminated its children`): Promise<void> {
    this.requireLive(agentId)
    for (const child of this.liveChildren(agentId)) await this.terminate(child.record.id, reason)
  }

  /** What the agent uses now, with its command metrics. */
  async usage(agentId: string): Promise<AgentUsage> {
    return agentUsage(this.requireLive(agentId), this.clock.wallNow())
  }

  /** Terminates every agent (roots first, each subtree children first) and closes the runtimes. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const entry of [...this.live.values()]) {
      if (entry.record.parentId === null || !this.live.has(entry.record.parentId))
        await this.terminate(entry.record.id, 'supervisor closed').catch(() => undefined)
    }
    for (const r of this.runtimes.values()) await r.close()
  }

  // --- internals ---

  private emit(event: SupervisorEvent): void {
    try {
      this.options.onEvent?.(event)
    } catch {
      // a listener's failure is not the agent's
    }
  }

  /** Stores the transition (fenced on the current state), then reports it. */
  private transition(
    entry: LiveAgent,
    to: AgentState,
    reason: string | null,
    patch: Partial<AgentRecord> = {},
  ): Promise<void> {
    const run = async (): Promise<void> => {
      const from = entry.record.state
      if (from !== to) assertTransition(entry.record.id, from, to, `go to ${to}`)
      const at = this.clock.wallNow()
      const next: AgentRecord = { ...entry.record, ...patch, state: to, reason, updatedAt: at }
      await this.options.store.saveAgent(next, { from, to, reason, at })
      entry.record = next
      this.emit({ type: 'agent.state', agentId: next.id, name: next.name, from, to, reason, at })
    }
    const done = entry.lock.then(run, run)
    entry.lock = done.catch(() => undefined)
    return done
  }

  private hooks(entry: LiveAgent): RuntimeHooks {
    let exited = false
    return {
      onExit: (exit) => {
        if (exited) return
        exited = true
        void this.onExit(entry, exit)
      },
      onEvent: (event) =>
        this.emit({
          type: 'agent.event',
          agentId: entry.record.id,
          name: entry.record.name,
          event,
          at: this.clock.wallNow(),
        }),
      call: (op, args) => this.calls.serve(entry, op, args),
    }
  }

  private async onExit(entry: LiveAgent, exit: RuntimeExit): Promise<void> {
    if (!entry.handle || entry.record.state === 'TERMINATED' || entry.record.state === 'FAILED') return
    entry.handle = undefined
    entry.metrics.recordError(exit.reason)
    await this.transition(entry, 'FAILED', `${exit.code}: ${exit.reason}`, { pid: null }).catch(() => undefined)
    for (const child of this.liveChildren(entry.record.id))
      await this.terminate(child.record.id, `parent ${entry.record.id} failed`).catch(() => undefined)
  }
}
