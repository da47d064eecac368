import { FlotillaError } from '../core/errors.js'
import type { EventFilter, EventHandler, Subscription } from '../messaging/bus.js'
import type { ArtifactInfo } from '../context/types.js'
import type {
  AgentContext,
  ArtifactView,
  BroadcastTarget,
  ChildAgentRef,
  ChildAgentRequest,
  TemplateSpawnRequest,
} from './context.js'

/**
 * The services an agent's context reaches outside the agent, by name. Each
 * op takes JSON arguments and resolves with a JSON result; the caller (the
 * supervisor, directly or over IPC) checks the agent's permissions.
 */
export interface ServiceOps {
  send: { args: { to: string; body: unknown; headers?: Record<string, string> }; result: string }
  request: { args: { to: string; body: unknown; timeoutMs: number }; result: unknown }
  publish: { args: { type: string; data: unknown }; result: string }
  receive: { args: { max?: number; visibilityTimeoutMs?: number }; result: unknown[] }
  ack: { args: { id: string }; result: boolean }
  broadcast: { args: { target: BroadcastTarget; body: unknown }; result: string[] }
  'artifacts.get': { args: { id: string; version?: number }; result: ArtifactView }
  'artifacts.put': {
    args: {
      id: string
      content: unknown
      basedOn?: number | null
      metadata?: Record<string, unknown>
      tags?: string[]
      ttlMs?: number
      runId?: string
      taskId?: string
    }
    result: ArtifactView
  }
  'artifacts.history': { args: { id: string }; result: ArtifactInfo[] }
  'artifacts.list': { args: { tag?: string }; result: ArtifactInfo[] }
  'artifacts.delete': { args: { id: string }; result: boolean }
  'cache.share': { args: { key: string; value: unknown; ttlMs: number }; result: null }
  'cache.get': { args: { key: string }; result: unknown }
  /** `runId` and `taskId`: the run and task of the command that spawns (a template's agent runs as a child run of that task). */
  spawn: {
    args: { spec: ChildAgentRequest | TemplateSpawnRequest; runId?: string; taskId?: string }
    result: { id: string; name: string }
  }
  'child.execute': { args: { id: string; input: unknown }; result: unknown }
  'child.terminate': { args: { id: string }; result: null }
  /** Subscribes on the bus for the agent; each event reaches it as a delivery tagged `subscriptionId` (chosen by the agent). */
  subscribe: { args: { type: string; filter?: EventFilter; subscriptionId: string }; result: null }
  /** Ends the subscription `subscriptionId` (nothing when there is none). */
  unsubscribe: { args: { subscriptionId: string }; result: null }
  /** An entry of the agent's task journal (durable steps, `ctx.step`). */
  'journal.get': { args: { key: string }; result: { found: boolean; value?: unknown } }
  /** Keeps an entry in the agent's task journal. */
  'journal.put': { args: { key: string; value: unknown }; result: null }
  /**
   * Holds a model call's worst case against the agent's tree budget
   * (`BUDGET_EXCEEDED` when it has not that much left); `null` when the agent
   * is in no budgeted tree (it need not ask again).
   */
  'budget.hold': { args: { tokens: number; costUsd: number }; result: { id: string } | null }
  /** Ends a hold: the call used `used`, or, without it, was not paid for. */
  'budget.settle': { args: { id: string; used?: { tokens: number; costUsd: number } }; result: null }
}

/** A service op name. */
export type ServiceOp = keyof ServiceOps

/** All service op names (what an IPC protocol accepts). */
export const SERVICE_OPS: readonly ServiceOp[] = [
  'send',
  'request',
  'publish',
  'receive',
  'ack',
  'broadcast',
  'artifacts.get',
  'artifacts.put',
  'artifacts.history',
  'artifacts.list',
  'artifacts.delete',
  'cache.share',
  'cache.get',
  'spawn',
  'child.execute',
  'child.terminate',
  'subscribe',
  'unsubscribe',
  'journal.get',
  'journal.put',
  'budget.hold',
  'budget.settle',
]

/** Calls one service op. */
export type ServiceCall = <K extends ServiceOp>(op: K, args: ServiceOps[K]['args']) => Promise<ServiceOps[K]['result']>

/** The durable journal of an agent's tasks: what `ctx.step` keeps. */
export interface Journal {
  get(key: string): Promise<{ found: boolean; value?: unknown }>
  put(key: string, value: unknown): Promise<void>
}

/** The members of {@link AgentContext} that reach outside the agent, and its journal. */
export type ServiceMembers = Pick<
  AgentContext,
  'artifacts' | 'cache' | 'send' | 'request' | 'publish' | 'subscribe' | 'receive' | 'ack' | 'broadcast' | 'spawn'
> & { readonly journal: Journal }

/**
 * Runs a durable step: the value an earlier attempt of the same task kept
 * under `key` is returned without running `fn`; otherwise `fn` runs and its
 * value (JSON) is kept before it is returned. `mayHaveKept` false (a task's
 * first attempt, when nothing before it can have run) skips reading the
 * journal.
 */
export async function runStep<T>(
  journal: Journal,
  key: string,
  fn: () => T | Promise<T>,
  mayHaveKept: boolean,
): Promise<T> {
  if (mayHaveKept) {
    const prior = await journal.get(key)
    if (prior.found) return prior.value as T
  }
  const value = await fn()
  await journal.put(key, value)
  return value
}

/** Checks a step name: 1–200 characters. */
export function checkStepName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `ctx.step needs a name of 1 to 200 characters, unique within the task (like "fetch:page-1"); got ${JSON.stringify(name)}.`,
      { details: { field: 'name' } },
    )
  }
  return name
}

/** Subscribes on the agent's behalf and keeps `handler` where events can be handed to it. */
export type SubscribeFn = (
  type: string,
  filter: EventFilter | undefined,
  handler: EventHandler,
) => Promise<Subscription>

/**
 * Builds the outward-facing members of an agent context from one `call`
 * function, so the in-process context and the process runner's context
 * behave the same. `subscribe` keeps the handler and subscribes (directly on
 * the bus, or through the `subscribe` op with events delivered back to the
 * agent's runner); without it `ctx.subscribe` fails with
 * `AGENT_STATE_INVALID`. `lineage` (the run and task of the command) is
 * recorded with every artifact version written.
 *
 * @example
 * ```ts
 * const members = serviceMembers((op, args) => supervisor.serve(agentId, op, args))
 * await members.send('analyst', { finding: 1 })
 * ```
 */
export function serviceMembers(
  call: ServiceCall,
  subscribe?: SubscribeFn,
  lineage: { runId?: string; taskId?: string } = {},
): ServiceMembers {
  const childRef = (ref: { id: string; name: string }): ChildAgentRef => ({
    id: ref.id,
    name: ref.name,
    execute: (input) => call('child.execute', { id: ref.id, input }),
    terminate: async () => {
      await call('child.terminate', { id: ref.id })
    },
  })
  return {
    artifacts: {
      get: (id, options) =>
        call('artifacts.get', { id, ...(options?.version === undefined ? {} : { version: options.version }) }),
      put: (id, content, options = {}) =>
        call('artifacts.put', {
          id,
          content,
          ...(options.basedOn === undefined ? {} : { basedOn: options.basedOn }),
          ...(options.metadata === undefined ? {} : { metadata: { ...options.metadata } }),
          ...(options.tags === undefined ? {} : { tags: [...options.tags] }),
          ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
          ...(lineage.runId === undefined ? {} : { runId: lineage.runId }),
          ...(lineage.taskId === undefined ? {} : { taskId: lineage.taskId }),
        }),
      history: (id) => call('artifacts.history', { id }),
      list: (options = {}) => call('artifacts.list', options.tag === undefined ? {} : { tag: options.tag }),
      delete: (id) => call('artifacts.delete', { id }),
    },
    cache: {
      share: async (key, value, options) => {
        await call('cache.share', { key, value, ttlMs: options.ttlMs })
      },
      get: (key) => call('cache.get', { key }),
    },
    send: (to, body, options) =>
      call('send', { to, body, ...(options?.headers ? { headers: { ...options.headers } } : {}) }),
    request: (to, body, options) => call('request', { to, body, timeoutMs: options.timeoutMs }),
    publish: (type, data) => call('publish', { type, data }),
    subscribe: (type, filter, handler) => {
      if (!subscribe) {
        return Promise.reject(
          new FlotillaError(
            'AGENT_STATE_INVALID',
            'ctx.subscribe is not available in this context: it has no way to deliver events to the handler. Receive messages with ctx.receive instead.',
          ),
        )
      }
      return subscribe(type, filter, handler)
    },
    receive: async (options = {}) =>
      (await call('receive', { ...options })) as Awaited<ReturnType<AgentContext['receive']>>,
    ack: (id) => call('ack', { id }),
    broadcast: (target, body) => call('broadcast', { target, body }),
    spawn: async (spec) => childRef(await call('spawn', { spec, ...lineage })),
    journal: {
      get: (key) => call('journal.get', { key }),
      put: async (key, value) => {
        await call('journal.put', { key, value })
      },
    },
  }
}

/**
 * Members for a context that has no services behind it (an agent run outside
 * any orchestrator): every call fails with `AGENT_STATE_INVALID` saying why.
 */
export function unavailableServices(why: string): ServiceMembers {
  const fail = (): Promise<never> => Promise.reject(new FlotillaError('AGENT_STATE_INVALID', why))
  return serviceMembers(fail as ServiceCall, fail)
}
