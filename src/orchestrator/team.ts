import { resolve } from 'node:path'
import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import { isRunEvent, type FlotillaEvent } from '../core/events.js'
import { workflow } from '../workflows/builder.js'
import type { Workflow } from '../workflows/compile.js'
import type { RunResult } from '../workflows/results.js'
import { defaultRuntimes } from './default-runtimes.js'
import { asRunId, asTaskId, type AgentId, type RunId, type TaskId } from '../core/ids.js'
import type { Journal, ServiceMembers } from '../agents/service-members.js'
import type { ChildAgentRef, TemplateSpawnRequest } from '../agents/context.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import { ContextStore } from '../context/context-store.js'
import type { TaskJournal } from '../context/journal.js'
import { MemoryContextBackend } from '../context/memory/memory-context-backend.js'
import type { Bus } from '../messaging/bus.js'
import { MemoryBus } from '../messaging/memory-bus.js'
import type { Runtime } from '../runtimes/runtime.js'
import { AgentSupervisor } from '../runtimes/supervisor.js'
import type { SupervisorEvent, TemplateSpawner } from '../runtimes/supervisor-types.js'
import { spawnParentOf, type SpawnParent } from '../agents/agent-template.js'
import type { SpawnLineage } from './child-runs.js'
import type { Registry } from '../registry/registry.js'
import type { Store } from '../store/store.js'
import {
  AgentSubscriptions,
  agentJournal,
  agentServiceCall,
  agentServiceMembers,
  type ServiceDeps,
} from './agent-services.js'
import { TaskServices } from './task-services.js'
import { DeployedAgents } from './deployed-agents.js'
import { errorFields, noopLogger, type Logger, type Meter } from '../telemetry/telemetry.js'
import { meteredBus } from '../messaging/metered-bus.js'
import { attachGauges, timeCommits, type QueueDepth } from './process-metrics.js'
import type { Authorizer } from '../security/authorizer.js'
import { PermissionSet } from '../security/permissions.js'

/** What the team part of an orchestrator is built from. */
export interface TeamOptions {
  readonly store: Store
  readonly registry: Registry
  readonly clock: Clock
  readonly bus: Bus | undefined
  /**
   * Counts the bus traffic, times the store's commits ({@link Team.runStore})
   * and reads the gauges (queue depth, circuit states, dead letters) when given.
   */
  readonly meter?: Meter | undefined
  /** Where the queue depth gauge reads from (with a meter). */
  readonly queueDepth?: QueueDepth
  readonly context: ContextStore | undefined
  /** @default the process and inprocess runtimes */
  readonly runtimes: readonly Runtime[] | undefined
  readonly workspaceRoot: string
  /** Where failures nobody waits for go (sweeps, event publishing). @default drops them */
  readonly logger?: Logger
  /** Makes the permission decisions of agents' services. @default the shared default authorizer */
  readonly authorizer?: Authorizer
  /** Where the durable steps of tasks (`ctx.step`, model calls) are kept; not closed by the team. @default the context store */
  readonly journal?: TaskJournal
  /** Hears the agent and security events of the team (lifecycle, reports, denials), as {@link FlotillaEvent}s. */
  readonly onEvent?: (event: FlotillaEvent) => void
  /**
   * Serves `ctx.spawn({ template })` of a task's agent and of a deployed
   * agent's command, the new agent carved from `parent`.
   * @default refused, as other spawns of registered agents
   */
  readonly spawnTemplate?: (parent: SpawnParent, request: TemplateSpawnRequest, lineage: SpawnLineage) => ChildAgentRef
}

/**
 * The agents-as-a-team part of an orchestrator: the bus, the context store,
 * the supervisor of deployed agents and the services every agent context
 * reaches (permission-checked). Agent lifecycle changes are published on the
 * bus as `status_change` (and `error` for failures); what agents report
 * (`permission.denied`, …) under its own type.
 */
export class Team {
  readonly bus: Bus
  /** The store, its commits timed when a meter is given: the one the engine writes runs through. */
  readonly runStore: Store
  readonly context: ContextStore
  readonly agents: DeployedAgents
  private readonly ownBus: boolean
  private readonly ownContext: boolean
  private readonly deps: ServiceDeps
  private readonly cache = new Map<string, ServiceMembers>()
  private readonly journals = new Map<string, Journal>()
  /** The bus subscriptions of deployed agents (`ctx.subscribe`), by agent id. */
  private readonly subscriptions = new Map<string, AgentSubscriptions>()
  private readonly sweeper: NodeJS.Timeout
  private readonly logger: Logger
  private readonly detachGauges: () => void

  constructor(private readonly o: TeamOptions) {
    this.ownBus = o.bus === undefined
    this.ownContext = o.context === undefined
    const late: { agents?: DeployedAgents; supervisor?: AgentSupervisor } = {}
    const bus =
      o.bus ??
      new MemoryBus({
        clock: o.clock,
        isKnownAgent: (name) => o.registry.has(name) || (late.supervisor?.hasLiveName(name) ?? false),
      })
    this.bus = o.meter === undefined ? bus : meteredBus(bus, o.meter)
    this.runStore = timeCommits(o.meter, o.store)
    this.detachGauges = attachGauges(o.meter, { registry: o.registry, bus: this.bus, queue: o.queueDepth })
    this.context =
      o.context ??
      new ContextStore(new MemoryContextBackend(), {
        clock: o.clock,
        ...(o.authorizer === undefined ? {} : { authorizer: o.authorizer }),
      })
    const spawnTemplate = o.spawnTemplate
    const supervisor = new AgentSupervisor({
      ...(spawnTemplate === undefined
        ? {}
        : { spawnTemplate: (s: TemplateSpawner, r: TemplateSpawnRequest) => spawnTemplate(...deployedSpawn(s, r)) }),
      store: o.store,
      runtimes: o.runtimes ?? defaultRuntimes(),
      workspaceRoot: resolve(o.workspaceRoot),
      clock: o.clock,
      onEvent: (e) => {
        if (e.type === 'agent.state' && (e.to === 'TERMINATED' || e.to === 'FAILED'))
          this.endSubscriptions(e.agentId, e.to === 'TERMINATED')
        this.publish(e)
        late.agents?.observe(e)
      },
      services: (agent, permissions) => {
        const subscriptions = new AgentSubscriptions(this.bus, (subscriptionId, event) =>
          late.supervisor?.deliver(agent.id, subscriptionId, event),
        )
        this.subscriptions.set(agent.id, subscriptions)
        return agentServiceCall(this.deps, {
          name: agent.name,
          agentId: agent.id,
          permissions,
          subscriptions,
          onDenied: (resource, action, reason) =>
            this.publish({
              type: 'agent.event',
              agentId: agent.id,
              name: agent.name,
              event: { type: 'permission.denied', data: { agent: agent.name, resource, action, reason } },
              at: o.clock.wallNow(),
            }),
        })
      },
    })
    late.supervisor = supervisor
    this.agents = late.agents = new DeployedAgents(supervisor, o.registry, this.bus)
    this.deps = {
      bus: this.bus,
      context: this.context,
      registry: o.registry,
      supervisor,
      isTerminated: (name) => !o.registry.has(name) && supervisor.isTerminatedName(name),
      authorizer: o.authorizer,
      ...(o.journal === undefined ? {} : { journal: o.journal }),
    }
    // Expired artifacts and cache entries are also removed on read; this sweep reclaims the ones nobody reads.
    const logger = (this.logger = o.logger ?? noopLogger)
    this.sweeper = setInterval(
      () =>
        void this.context
          .sweep()
          .catch((e: unknown) =>
            logger.warn(
              errorFields(e),
              'sweeping expired artifacts and cache entries failed; the next sweep tries again',
            ),
          ),
      60_000,
    ).unref()
  }

  /** The journal of a registered agent instance's tasks (per agent name), for `ctx.step`. */
  journalOf(instanceId: AgentId): Journal | undefined {
    const instance = this.o.registry.getInstance(instanceId)
    if (!instance) return undefined
    return this.journalNamed(instance.definition.name)
  }

  /** The journal of agent `name`'s tasks, made once per name. */
  private journalNamed(name: string): Journal {
    let journal = this.journals.get(name)
    if (journal === undefined) {
      if (this.journals.size > 1024) this.journals.clear()
      this.journals.set(name, (journal = agentJournal(this.deps, name)))
    }
    return journal
  }

  /**
   * The services of a task's context, checked against what the registered
   * agent's definition declares: an agent that declares no permissions may
   * not use artifacts, the cache or messaging (grant `{ resource: '**',
   * actions: ['*'] }` to make one unrestricted).
   */
  services(instanceId: AgentId, runId: RunId, taskId: TaskId): ServiceMembers | undefined {
    const instance = this.o.registry.getInstance(instanceId)
    if (!instance) return undefined
    const name = instance.definition.name
    const key = `${name}\u0000${runId}\u0000${taskId}`
    let members = this.cache.get(key)
    if (!members) {
      const definition = instance.definition
      const onEvent = this.o.onEvent
      const spawnTemplate = this.o.spawnTemplate
      members = new TaskServices(this.journalNamed(name), () =>
        withTemplateSpawn(
          definition,
          runId,
          taskId,
          spawnTemplate,
          agentServiceMembers(this.deps, {
            name,
            runId,
            taskId,
            permissions: new PermissionSet(definition.permissions ?? []),
            ...(onEvent === undefined
              ? {}
              : {
                  onDenied: (resource: string, action: string, reason: string) =>
                    onEvent({
                      type: 'permission.denied',
                      at: this.o.clock.wallNow(),
                      agent: name,
                      resource,
                      action,
                      reason,
                      runId,
                      taskId,
                    }),
                }),
          }),
        ),
      )
      if (this.cache.size > 1024) this.cache.clear()
      this.cache.set(key, members)
    }
    return members
  }

  /**
   * Answers bus requests addressed to `name` by running the registered agent
   * of that name as a one-task run (retries, limits and the store apply).
   */
  async answerRequests(name: string, run: (wf: Workflow) => Promise<RunResult>): Promise<void> {
    await this.bus.onRequest(name, async (req) => {
      const result = await run(workflow(`request:${name}`).task('answer', { agent: name, input: req.body }).build())
      if (!result.ok)
        throw result.tasks.answer?.error ?? new FlotillaError('TASK_FAILED', `Agent "${name}" did not answer.`)
      return result.output('answer')
    })
  }

  /** Publishes run and task events on the bus (option `busEvents`). */
  forward(events: readonly FlotillaEvent[]): void {
    for (const e of events) {
      if (!isRunEvent(e)) continue
      this.bus
        .publish(e.type, e, { from: 'orchestrator' })
        .catch((err: unknown) =>
          this.logger.warn(
            { ...errorFields(err), eventType: e.type, runId: e.runId },
            'publishing a run event on the bus failed',
          ),
        )
    }
  }

  /** Terminates deployed agents, then closes what the team opened itself. */
  async close(): Promise<void> {
    clearInterval(this.sweeper)
    this.detachGauges()
    await this.agents.close()
    if (this.ownBus) await this.bus.close()
    if (this.ownContext) await this.context.close()
  }

  /** Ends the bus subscriptions of a deployed agent that stopped (kept for a restart unless it is terminated). */
  private endSubscriptions(agentId: string, forget: boolean): void {
    const subs = this.subscriptions.get(agentId)
    if (forget) this.subscriptions.delete(agentId)
    void subs?.endAll()
  }

  private publish(e: SupervisorEvent): void {
    this.o.onEvent?.(teamEvent(e))
    const send = (type: string, data: unknown): void => {
      this.bus
        .publish(type, data, { from: e.name })
        .catch((err: unknown) =>
          this.logger.warn(
            { ...errorFields(err), eventType: type, agent: e.name },
            'publishing an agent event on the bus failed',
          ),
        )
    }
    if (e.type === 'agent.state') {
      send('status_change', { agentId: e.agentId, name: e.name, from: e.from, to: e.to, reason: e.reason, at: e.at })
      if (e.to === 'FAILED') send('error', { agentId: e.agentId, name: e.name, reason: e.reason, at: e.at })
    } else {
      send(e.event.type, { agentId: e.agentId, name: e.name, ...e.event.data, at: e.at })
    }
  }
}

/** A supervisor's event as a {@link FlotillaEvent}: a state change, a denial, or another report. */
function teamEvent(e: SupervisorEvent): FlotillaEvent {
  if (e.type === 'agent.state')
    return { type: 'agent.state', at: e.at, agentId: e.agentId, name: e.name, from: e.from, to: e.to, reason: e.reason }
  const data = e.event.data
  if (e.event.type === 'permission.denied')
    return {
      type: 'permission.denied',
      at: e.at,
      agent: e.name,
      agentId: e.agentId,
      resource: String(data.resource ?? ''),
      action: String(data.action ?? ''),
      reason: String(data.reason ?? ''),
    }
  return { type: 'agent.reported', at: e.at, agentId: e.agentId, name: e.name, report: { type: e.event.type, data } }
}

/**
 * A deployed agent's spawn from a template: carved from its permissions,
 * each budget of the spawned agent bounded by what the spawner's tree budget
 * has left, what it spends charged to that budget.
 */
function deployedSpawn(
  s: TemplateSpawner,
  request: TemplateSpawnRequest,
): [SpawnParent, TemplateSpawnRequest, SpawnLineage] {
  const left = s.budgetLeft
  return [
    {
      name: s.agent.name,
      permissions: s.permissions,
      budget: left === undefined ? undefined : { task: left, run: left, agent: left },
    },
    request,
    {
      ...(s.runId === undefined || s.taskId === undefined
        ? {}
        : { runId: asRunId(s.runId), taskId: asTaskId(s.taskId) }),
      onSpent: (used) => s.charge(used),
    },
  ]
}

/**
 * Members whose `spawn` serves template requests through `spawnTemplate`
 * (other spawns as before). Without it (a team wired with no child runs;
 * Orchestrators and Workers give one), a template request fails with
 * `CHILD_RUN_UNSUPPORTED`.
 */
function withTemplateSpawn(
  definition: AnyAgentDefinition,
  runId: RunId,
  taskId: TaskId,
  spawnTemplate: TeamOptions['spawnTemplate'],
  members: ServiceMembers,
): ServiceMembers {
  const spawn: ServiceMembers['spawn'] = (request) =>
    typeof request !== 'object' || request === null || !('template' in request)
      ? members.spawn(request)
      : spawnTemplate === undefined
        ? Promise.reject(
            new FlotillaError(
              'CHILD_RUN_UNSUPPORTED',
              `Agent "${definition.name}" (task "${taskId}") spawned from template "${request.template}", but this team has no child runs wired in (spawnTemplate); run the workflow on an Orchestrator or a Worker.`,
              { details: { agent: definition.name, taskId, template: request.template } },
            ),
          )
        : Promise.resolve().then(() => spawnTemplate(spawnParentOf(definition), request, { runId, taskId }))
  return { ...members, spawn }
}
