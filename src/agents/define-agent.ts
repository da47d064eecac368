import type { z } from 'zod'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { parsePermissions, type Permission } from '../security/permissions.js'
import { resolveScaling, type ResolvedScaling, type ScalingOptions } from './scaling.js'
import type { AgentContext } from './context.js'

/** A zod schema of any type. */
export type Schema<T = unknown> = z.ZodType<T>

/** What a handler may return. */
export type MaybePromise<T> = T | Promise<T>

/**
 * What an agent's `initialize` and `healthCheck` hooks are told about the
 * instance they run for, so that several instances of one definition can
 * tell themselves apart (a connection per instance, a shard per index…).
 *
 * @example
 * ```ts
 * defineAgent({
 *   name: 'indexer',
 *   handler: index,
 *   initialize: ({ instanceId, index }) => openShard(index, instanceId),
 *   healthCheck: ({ index }) => shardIsUp(index),
 * })
 * ```
 */
export interface AgentInstanceInfo {
  /**
   * Id of the instance: the `agt_…` id of a registry instance. Where the
   * runtime gives none (an agent run by `flotilla agent run` today), `name@version`.
   */
  readonly instanceId: string
  /** 0-based position of the instance among those one registration started (`register(def, { instances: 3 })` gives 0, 1, 2). @default 0 */
  readonly index: number
  /** The agent's name. */
  readonly agent: string
  /** The agent's version. */
  readonly version: string
}

/** The configuration given to {@link defineAgent}. */
export interface AgentConfig<I, O> {
  /** Unique name, e.g. `scanner`. Lowercase letters, digits, `-`, `_`, `.`. */
  name: string
  /** Semantic version. @default "1.0.0" */
  version?: string
  /** What the agent can do; tasks may ask for a capability instead of a name. @default [] */
  capabilities?: readonly string[]
  /** Free labels for discovery. @default [] */
  tags?: readonly string[]
  /** One-line description. */
  description?: string
  /** Schema of the input; the handler's input type is inferred from it. */
  input?: Schema<I>
  /** Schema of the output; output failing it fails the task with `AGENT_OUTPUT_INVALID`. */
  output?: Schema<O>
  /** Most executions one instance runs at once. @default Infinity */
  maxConcurrency?: number
  /**
   * Auto-scaling: the orchestrator keeps between `min` and `max` instances,
   * adding one when work waits for the agent and removing an idle one after
   * `cooldownMs` (see {@link ScalingOptions}). Meaningful with a finite
   * `maxConcurrency`. @default a fixed number of instances
   */
  scaling?: ScalingOptions
  /** The work itself. */
  handler: (input: I, ctx: AgentContext) => MaybePromise<O>
  /** Runs once when an instance starts (and again when it is restarted); throw to refuse to start. */
  initialize?: (instance: AgentInstanceInfo) => MaybePromise<void>
  /** Reports the instance's health; a throw or `false` counts as unhealthy. */
  healthCheck?: (instance: AgentInstanceInfo) => MaybePromise<boolean | { healthy: boolean; detail?: string }>
  /**
   * What the agent may reach through its context when run as a registered
   * agent: messages (`agent:<name>`), events, artifacts, cache, as
   * `{ resource, actions }` globs. Every access outside them is
   * PERMISSION_DENIED; `[{ resource: '**', actions: ['*'] }]` makes the agent
   * unrestricted. Tools and workspace files have grants of their own (see
   * `createToolBox`).
   * @default [] (none: the agent may not use artifacts, the cache or messaging)
   */
  permissions?: readonly Permission[]
}

/** A validated, complete agent definition, as returned by {@link defineAgent}. */
export interface AgentDefinition<I = unknown, O = unknown> {
  readonly kind: 'flotilla.agent'
  readonly name: string
  readonly version: string
  readonly capabilities: readonly string[]
  readonly tags: readonly string[]
  readonly description: string | undefined
  readonly input: Schema<I> | undefined
  readonly output: Schema<O> | undefined
  readonly maxConcurrency: number
  /** Auto-scaling, with defaults filled in; `undefined`: a fixed number of instances. */
  readonly scaling?: ResolvedScaling
  readonly handler: (input: I, ctx: AgentContext) => MaybePromise<O>
  /** The `initialize` hook; called without `instance`, it is told `{ instanceId: 'name@version', index: 0, agent, version }`. */
  readonly initialize: ((instance?: AgentInstanceInfo) => MaybePromise<void>) | undefined
  /** The `healthCheck` hook; called without `instance`, it is told `{ instanceId: 'name@version', index: 0, agent, version }`. */
  readonly healthCheck:
    | ((instance?: AgentInstanceInfo) => MaybePromise<boolean | { healthy: boolean; detail?: string }>)
    | undefined
  /** The declared permissions; `undefined`: none were declared (the agent gets none). */
  readonly permissions: readonly Permission[] | undefined
}

/**
 * Any agent definition, whatever its input and output types: what registries
 * and workflows store. Its handler is called with input already validated.
 */
export interface AnyAgentDefinition extends Omit<AgentDefinition<unknown, unknown>, 'handler'> {
  readonly handler: (input: never, ctx: AgentContext) => MaybePromise<unknown>
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i
const VERSION = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/

function invalid(name: string, what: string): never {
  throw new FlotillaError('AGENT_INVALID', `Agent "${name}": ${what}.`, { details: { agent: name } })
}

/**
 * Defines an agent. The handler's `input` type is inferred from the `input`
 * schema, and its return type is checked against the `output` schema.
 *
 * @example
 * ```ts
 * import { z } from 'zod'
 * const upper = defineAgent({
 *   name: 'upper',
 *   capabilities: ['text'],
 *   input: z.object({ text: z.string() }),
 *   handler: async ({ text }) => ({ text: text.toUpperCase() }),
 * })
 * ```
 */
export function defineAgent<I = unknown, O = unknown>(config: AgentConfig<I, O>): AgentDefinition<I, O> {
  if (typeof config !== 'object' || config === null)
    throw new FlotillaError('AGENT_INVALID', 'defineAgent needs a configuration object.')
  const name = config.name
  if (typeof name !== 'string' || !NAME.test(name)) {
    invalid(String(name), 'the name must be 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit')
  }
  for (const key of Object.keys(config)) {
    if (!CONFIG_KEYS.has(key)) {
      const hint =
        key === 'retry' || key === 'retries' || key === 'timeoutMs' || key === 'timeout'
          ? `. ${key} belongs to a task (workflow task option), not to the agent`
          : key === 'budget' || key === 'model'
            ? `. ${key} belongs to a language-model agent: use defineLlmAgent`
            : ''
      invalid(
        name,
        `unknown option "${key}" (known: ${[...CONFIG_KEYS].filter((k) => k !== 'kind').join(', ')})${hint}`,
      )
    }
  }
  const version = config.version ?? '1.0.0'
  if (typeof version !== 'string' || !VERSION.test(version))
    invalid(name, `version "${String(version)}" is not a semantic version like 1.2.0`)
  if (typeof config.handler !== 'function') invalid(name, 'handler must be a function (input, ctx) => output')
  const maxConcurrency = config.maxConcurrency ?? Infinity
  if (typeof maxConcurrency !== 'number' || !(maxConcurrency >= 1)) invalid(name, 'maxConcurrency must be a number ≥ 1')
  for (const key of ['input', 'output'] as const) {
    const s = config[key]
    if (
      s !== undefined &&
      (typeof s !== 'object' || s === null || typeof (s as { safeParse?: unknown }).safeParse !== 'function')
    ) {
      invalid(name, `${key} must be a zod schema`)
    }
  }
  const list = (v: readonly string[] | undefined, what: string): readonly string[] => {
    if (v === undefined) return []
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0))
      invalid(name, `${what} must be a list of non-empty strings`)
    return Object.freeze([...v])
  }
  const fallback: AgentInstanceInfo = Object.freeze({
    instanceId: `${name}@${version}`,
    index: 0,
    agent: name,
    version,
  })
  const { initialize, healthCheck } = config
  if (initialize !== undefined && typeof initialize !== 'function')
    invalid(name, 'initialize must be a function (instance) => void')
  if (healthCheck !== undefined && typeof healthCheck !== 'function')
    invalid(name, 'healthCheck must be a function (instance) => boolean | { healthy, detail }')
  let scaling: ResolvedScaling | undefined
  try {
    scaling = config.scaling === undefined ? undefined : resolveScaling(config.scaling, name)
  } catch (e) {
    invalid(name, isFlotillaError(e) ? e.message.replace(/^Agent "[^"]*": /, '').replace(/\.$/, '') : String(e))
  }
  let permissions: readonly Permission[] | undefined
  try {
    permissions = config.permissions === undefined ? undefined : Object.freeze(parsePermissions(config.permissions))
  } catch (e) {
    invalid(name, isFlotillaError(e) ? e.message.replace(/\.$/, '') : String(e))
  }
  return Object.freeze({
    kind: 'flotilla.agent' as const,
    name,
    version,
    capabilities: list(config.capabilities, 'capabilities'),
    tags: list(config.tags, 'tags'),
    description: config.description,
    input: config.input,
    output: config.output,
    maxConcurrency,
    ...(scaling === undefined ? {} : { scaling }),
    handler: config.handler,
    initialize:
      initialize === undefined ? undefined : (instance?: AgentInstanceInfo) => initialize(instance ?? fallback),
    healthCheck:
      healthCheck === undefined ? undefined : (instance?: AgentInstanceInfo) => healthCheck(instance ?? fallback),
    permissions,
  })
}

/** The options of {@link AgentConfig} (and `kind`, so a definition can be spread into a new one). */
const CONFIG_KEYS = new Set([
  'name',
  'version',
  'capabilities',
  'tags',
  'description',
  'input',
  'output',
  'maxConcurrency',
  'scaling',
  'handler',
  'initialize',
  'healthCheck',
  'permissions',
  'kind',
])

/** True when `value` is an agent definition made by {@link defineAgent}. */
export function isAgentDefinition(value: unknown): value is AnyAgentDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'flotilla.agent'
}
