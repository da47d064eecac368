import { FlotillaError } from '../core/errors.js'
import type { BroadcastTarget } from '../agents/context.js'
import {
  serviceMembers,
  type Journal,
  type ServiceCall,
  type ServiceMembers,
  type ServiceOps,
} from '../agents/service-members.js'
import type { ContextStore } from '../context/context-store.js'
import type { TaskJournal } from '../context/journal.js'
import type { Bus, BusEvent, EventFilter, Subscription } from '../messaging/bus.js'
import type { PermissionSet } from '../security/permissions.js'
import { defaultAuthorizer, type Action, type Authorizer, type Resource } from '../security/authorizer.js'
import type { AgentSupervisor } from '../runtimes/supervisor.js'
import type { Registry } from '../registry/registry.js'

/** What the services of agent contexts are built from. */
export interface ServiceDeps {
  readonly bus: Bus
  readonly context: ContextStore
  readonly registry: Registry
  readonly supervisor: AgentSupervisor
  /** True for a name whose deployed agents have all terminated (messages to it fail with `AGENT_TERMINATED`). */
  readonly isTerminated?: (name: string) => boolean
  /** Makes every permission decision. @default the shared default authorizer */
  readonly authorizer?: Authorizer
  /** Where the durable steps of tasks (`ctx.step`) are kept. @default the journal of `context` */
  readonly journal?: TaskJournal
}

/** Who is calling: its bus address, its principal in the context store, its permissions. */
export interface Caller {
  /** The agent's name: its mailbox and the `from` of what it sends. */
  readonly name: string
  /** The deployed agent's id, for broadcasts to its children. */
  readonly agentId?: string
  /** Its permissions; `undefined` means unrestricted (the orchestrator itself, never an agent). */
  readonly permissions?: PermissionSet
  /** The run and task on whose behalf it acts, recorded as artifact lineage. */
  readonly runId?: string
  readonly taskId?: string
  /** Told of every denied access (to report it as a `permission.denied` event; `reason` is the error's `details.reason`) before the error is thrown. */
  readonly onDenied?: (resource: string, action: string, reason: string) => void
  /** Where the `subscribe` op keeps the bus subscriptions of a deployed agent; without it the op fails. */
  readonly subscriptions?: AgentSubscriptions
}

/**
 * The bus subscriptions a deployed agent made through the `subscribe` op,
 * by the subscription id the agent chose. Each event goes to `deliver`
 * (the agent's runtime). {@link AgentSubscriptions.endAll} ends them all
 * when the agent stops (terminated, failed, restarted), including one still
 * being made.
 */
export class AgentSubscriptions {
  private readonly subs = new Map<string, Subscription>()
  private generation = 0

  constructor(
    private readonly bus: Bus,
    private readonly deliver: (subscriptionId: string, event: BusEvent) => void,
  ) {}

  /** Subscribes to `type` for the agent under `subscriptionId`. */
  async add(subscriptionId: string, type: string, filter: EventFilter | undefined): Promise<void> {
    if (typeof subscriptionId !== 'string' || subscriptionId.length === 0)
      throw new FlotillaError('VALIDATION_FAILED', 'subscribe needs a non-empty subscriptionId.', {
        details: { field: 'subscriptionId' },
      })
    if (this.subs.has(subscriptionId))
      throw new FlotillaError('VALIDATION_FAILED', `Subscription ${subscriptionId} already exists.`, {
        details: { field: 'subscriptionId' },
      })
    const generation = this.generation
    const sub = await this.bus.subscribe(type, filter, (event) => this.deliver(subscriptionId, event))
    if (generation !== this.generation) {
      await sub.unsubscribe()
      throw new FlotillaError(
        'AGENT_STATE_INVALID',
        'The agent stopped while it subscribed; the subscription was ended.',
        { details: { subscriptionId } },
      )
    }
    this.subs.set(subscriptionId, sub)
  }

  /** Ends one subscription (nothing when there is none). */
  async remove(subscriptionId: string): Promise<void> {
    const sub = this.subs.get(subscriptionId)
    this.subs.delete(subscriptionId)
    await sub?.unsubscribe()
  }

  /** Ends every subscription, and any still being made. Never rejects. */
  async endAll(): Promise<void> {
    this.generation++
    const all = [...this.subs.values()]
    this.subs.clear()
    await Promise.all(all.map((s) => s.unsubscribe().catch(() => undefined)))
  }
}

/** Refuses, with the `PERMISSION_DENIED` of every denial, an access no grant of the caller covers; `onDenied` hears it first. */
function check(deps: ServiceDeps, caller: Caller, resource: Resource, action: Action): void {
  const onDenied = caller.onDenied
  ;(deps.authorizer ?? defaultAuthorizer).authorize(
    caller,
    resource,
    action,
    onDenied && ((d) => onDenied(d.resource, d.action, d.reason)),
  )
}

function reachable(deps: ServiceDeps, to: string): void {
  if (deps.isTerminated?.(to)) {
    throw new FlotillaError(
      'AGENT_TERMINATED',
      `Agent "${to}" was terminated; it takes no more messages. Deploy it again to reach it.`,
      { details: { agent: to } },
    )
  }
}

/** The names a broadcast target stands for, each checked for `send`. */
async function targets(deps: ServiceDeps, caller: Caller, target: BroadcastTarget): Promise<string[]> {
  let names: string[]
  if (typeof target !== 'object' || target === null) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      'A broadcast target is { agents: [...] }, { children: true, subtree?: boolean } or { match: { role?, capability?, tag? } }.',
      { details: { field: 'target' } },
    )
  }
  if ('agents' in target) {
    if (!Array.isArray(target.agents))
      throw new FlotillaError('VALIDATION_FAILED', 'broadcast { agents } must be a list of agent names.', {
        details: { field: 'target.agents' },
      })
    names = [...target.agents]
  } else if ('children' in target) {
    if (caller.agentId === undefined) {
      throw new FlotillaError(
        'AGENT_STATE_INVALID',
        `Agent "${caller.name}" has no children: only deployed agents do (orchestrator.agents.deploy).`,
      )
    }
    const kin = target.subtree
      ? await deps.supervisor.descendants(caller.agentId)
      : await deps.supervisor.children(caller.agentId)
    names = kin.filter((a) => a.state !== 'TERMINATED').map((a) => a.name)
  } else if ('match' in target) {
    const { role, capability, tag } = target.match
    if (role === undefined && capability === undefined && tag === undefined) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        'broadcast { match } needs a role (agent name), a capability or a tag.',
        { details: { field: 'target.match' } },
      )
    }
    const registered = deps.registry
      .definitions()
      .map((d) => ({ name: d.name, capabilities: d.capabilities, tags: d.tags }))
    const deployed = (await deps.supervisor.list({ states: ['RUNNING', 'PAUSED'] })).map((a) => ({
      name: a.name,
      capabilities: a.capabilities,
      tags: a.tags,
    }))
    names = [...registered, ...deployed]
      .filter((a) => !a.name.startsWith('flotilla.'))
      .filter(
        (a) =>
          (role === undefined || a.name === role) &&
          (capability === undefined || a.capabilities.includes(capability)) &&
          (tag === undefined || a.tags.includes(tag)),
      )
      .map((a) => a.name)
  } else {
    throw new FlotillaError('VALIDATION_FAILED', 'A broadcast target is { agents }, { children } or { match }.', {
      details: { field: 'target' },
    })
  }
  const unique = [...new Set(names)].filter((n) => n !== caller.name || 'agents' in target)
  for (const n of unique) {
    check(deps, caller, { kind: 'agent', name: n }, 'send')
    reachable(deps, n)
  }
  return unique
}

/** The journal of the tasks of agent `name`: keyed under its name, so one agent never reads another's. */
export function agentJournal(deps: ServiceDeps, name: string): Journal {
  const journal = deps.journal ?? deps.context.journal
  return {
    get: (key) => journal.get(`${name}:${key}`),
    put: (key, value) => journal.put(`${name}:${key}`, value),
  }
}

/**
 * The service calls of one agent's context: messages through the bus,
 * artifacts and the cache through the context store, each checked against
 * the caller's permissions: `agent:<name>` send / request, `event:<type>`
 * publish / subscribe (the `subscribe` op needs `caller.subscriptions`),
 * `artifact:<id>` read / write / delete (a list shows
 * only what the caller may read), `cache:<key>` read / write.
 */
export function agentServiceCall(deps: ServiceDeps, caller: Caller): ServiceCall {
  const artifacts = deps.context.as(caller.name, {
    ...(caller.runId === undefined ? {} : { runId: caller.runId }),
    ...(caller.taskId === undefined ? {} : { taskId: caller.taskId }),
  })
  const cache = deps.context.cacheAs(caller.name)
  const journal = agentJournal(deps, caller.name)
  const ops: { [K in keyof ServiceOps]: (args: ServiceOps[K]['args']) => Promise<ServiceOps[K]['result']> } = {
    send: (a) => {
      check(deps, caller, { kind: 'agent', name: a.to }, 'send')
      reachable(deps, a.to)
      return deps.bus.send(a.to, a.body, { from: caller.name, ...(a.headers ? { headers: a.headers } : {}) })
    },
    request: (a) => {
      check(deps, caller, { kind: 'agent', name: a.to }, 'request')
      reachable(deps, a.to)
      return deps.bus.request(a.to, a.body, { timeoutMs: a.timeoutMs, from: caller.name })
    },
    publish: (a) => {
      check(deps, caller, { kind: 'event', type: a.type }, 'publish')
      return deps.bus.publish(a.type, a.data, { from: caller.name })
    },
    subscribe: async (a) => {
      check(deps, caller, { kind: 'event', type: a.type }, 'subscribe')
      if (!caller.subscriptions)
        throw new FlotillaError(
          'AGENT_STATE_INVALID',
          `Agent "${caller.name}" cannot subscribe through this service: nothing delivers events to it.`,
        )
      await caller.subscriptions.add(a.subscriptionId, a.type, a.filter)
      return null
    },
    unsubscribe: async (a) => {
      await caller.subscriptions?.remove(a.subscriptionId)
      return null
    },
    receive: (a) => deps.bus.receive(caller.name, a),
    ack: (a) => deps.bus.ack(caller.name, a.id),
    broadcast: async (a) => deps.bus.broadcast(await targets(deps, caller, a.target), a.body, { from: caller.name }),
    'artifacts.get': (a) => {
      check(deps, caller, { kind: 'artifact', id: a.id }, 'read')
      return artifacts.get(a.id, a.version === undefined ? {} : { version: a.version })
    },
    'artifacts.put': (a) => {
      check(deps, caller, { kind: 'artifact', id: a.id }, 'write')
      const { id, content, runId, taskId, ...options } = a
      const view =
        runId === undefined && taskId === undefined
          ? artifacts
          : deps.context.as(caller.name, {
              ...(runId === undefined ? {} : { runId }),
              ...(taskId === undefined ? {} : { taskId }),
            })
      return view.put(id, content, options)
    },
    'artifacts.history': (a) => {
      check(deps, caller, { kind: 'artifact', id: a.id }, 'read')
      return artifacts.history(a.id)
    },
    'artifacts.list': async (a) => {
      return (deps.authorizer ?? defaultAuthorizer).filter(
        caller,
        await artifacts.list(a),
        (x) => ({ kind: 'artifact', id: x.id }),
        'read',
      )
    },
    'artifacts.delete': (a) => {
      check(deps, caller, { kind: 'artifact', id: a.id }, 'delete')
      return artifacts.delete(a.id)
    },
    'cache.share': async (a) => {
      check(deps, caller, { kind: 'cache', key: a.key }, 'write')
      await cache.share(a.key, a.value, { ttlMs: a.ttlMs })
      return null
    },
    'cache.get': (a) => {
      check(deps, caller, { kind: 'cache', key: a.key }, 'read')
      return cache.get(a.key)
    },
    'journal.get': (a) => journal.get(a.key),
    'journal.put': async (a) => {
      await journal.put(a.key, a.value)
      return null
    },
    spawn: () =>
      Promise.reject(
        new FlotillaError(
          'AGENT_STATE_INVALID',
          `Agent "${caller.name}" cannot spawn children: only deployed agents can (their children's permissions are carved from theirs).`,
        ),
      ),
    'child.execute': () =>
      Promise.reject(new FlotillaError('AGENT_STATE_INVALID', `Agent "${caller.name}" has no children.`)),
    'child.terminate': () =>
      Promise.reject(new FlotillaError('AGENT_STATE_INVALID', `Agent "${caller.name}" has no children.`)),
    // Tree budgets are the supervisor's (it answers these itself); an agent outside one has none.
    'budget.hold': () => Promise.resolve(null),
    'budget.settle': () => Promise.resolve(null),
  }
  return ((op: keyof ServiceOps, args: never) => {
    const fn = ops[op] as ((args: never) => Promise<unknown>) | undefined
    if (!fn)
      return Promise.reject(
        new FlotillaError('VALIDATION_FAILED', `Unknown service "${String(op)}".`, { details: { op: String(op) } }),
      )
    try {
      return fn(args)
    } catch (err) {
      return Promise.reject(err)
    }
  }) as ServiceCall
}

/** The full set of outward context members for an in-process caller (with `subscribe`). */
export function agentServiceMembers(deps: ServiceDeps, caller: Caller): ServiceMembers {
  return serviceMembers(agentServiceCall(deps, caller), (type, filter, handler) => {
    check(deps, caller, { kind: 'event', type: type }, 'subscribe')
    return deps.bus.subscribe(type, filter, handler)
  })
}
