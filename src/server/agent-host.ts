import { realpathSync } from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import type { Clock } from '../core/clock.js'
import { FlotillaError } from '../core/errors.js'
import type { FlotillaEvent, TeamEvent } from '../core/events.js'
import { parseAgentSpec } from '../agents/spec.js'
import type { ContextStore } from '../context/context-store.js'
import type { Bus } from '../messaging/bus.js'
import type { DeployedAgents } from '../orchestrator/deployed-agents.js'
import { Team } from '../orchestrator/team.js'
import { Registry } from '../registry/registry.js'
import type { Runtime } from '../runtimes/runtime.js'
import type { Store } from '../store/store.js'
import type { Logger } from '../telemetry/telemetry.js'

/** Options of the deployed agents a server governs (`startServer({ agents })`, `flotilla serve --agent-modules`). */
export interface ServerAgentsOptions {
  /**
   * The folder agent modules must lie in: a spec deployed through the API
   * names its `module` (and `toolsModule`) relative to it, or absolute inside
   * it; anything resolving outside it (symbolic links followed) is refused.
   * Deploying is running code on the server, so only code put here is run.
   */
  readonly modules: string
  /** Folder under which each deployed agent gets its workspace. @default ".flotilla/agents" */
  readonly workspaceRoot?: string
  /** The runtimes agents may be deployed on. @default the process and inprocess runtimes */
  readonly runtimes?: readonly Runtime[]
}

/** Environment variables a spec deployed through the API may not set: they load code into the agent's process. */
const FORBIDDEN_ENV = /^(LD_|DYLD_|NODE_|npm_)|^(PATH|HOME)$/

/**
 * The deployed agents a server governs: an `AgentSupervisor` (through
 * {@link DeployedAgents}) on the backend's store, bus and context, so agents
 * deployed here are stored like any other (every process on the store
 * lists them) and reach messages and artifacts. Only this server controls
 * them; the events of its agents go to {@link AgentHost.onEvent}.
 */
export interface AgentHost {
  /** Deploys and governs the agents held by this server. */
  readonly agents: DeployedAgents
  /** The bus of their mailboxes (the backend's, or one in this process). */
  readonly bus: Bus
  /** The folder deployable modules lie in (absolute, links resolved). */
  readonly modules: string
  /**
   * Validates a spec sent to the API (the agent spec schema, modules inside
   * {@link AgentHost.modules}, no loader variables in `env`) and returns it
   * with its module paths absolute, for `agents.deploy`.
   */
  parseSpec(spec: unknown): Record<string, unknown>
  /** Listens to the agent events of the agents held here; returns the function that stops listening. */
  onEvent(listener: (event: TeamEvent) => void): () => void
  /** Terminates every agent held here and closes what the host opened. */
  close(): Promise<void>
}

/**
 * Builds the {@link AgentHost} of a server on its backend's store, bus and
 * context. An unreadable `modules` folder is `FILE_NOT_FOUND`.
 *
 * @example
 * ```ts
 * const host = hostAgents({ modules: './agents' }, { store, bus: undefined, context, clock: systemClock, logger: noopLogger })
 * const agent = await host.agents.deploy(host.parseSpec({ name: 'echo', module: 'echo.mjs' }))
 * await host.close()
 * ```
 */
export function hostAgents(
  options: ServerAgentsOptions,
  parts: { store: Store; bus: Bus | undefined; context: ContextStore; clock: Clock; logger: Logger },
): AgentHost {
  let modules: string
  try {
    modules = realpathSync(resolve(options.modules))
  } catch (e) {
    throw new FlotillaError(
      'FILE_NOT_FOUND',
      `The agent modules folder "${options.modules}" does not exist; create it or name another.`,
      { details: { path: resolve(options.modules) }, cause: e },
    )
  }
  const listeners = new Set<(event: TeamEvent) => void>()
  const team = new Team({
    store: parts.store,
    registry: new Registry({ clock: parts.clock }),
    clock: parts.clock,
    bus: parts.bus,
    context: parts.context,
    runtimes: options.runtimes,
    workspaceRoot: options.workspaceRoot ?? '.flotilla/agents',
    logger: parts.logger,
    onEvent: (e: FlotillaEvent) => {
      for (const l of listeners) {
        try {
          l(e as TeamEvent)
        } catch {
          // a listener's failure is its own
        }
      }
    },
  })
  /** The real path of a module (links resolved) when it lies inside the folder; the deploy uses it, so a link changed later cannot redirect it. */
  const inside = (field: string, path: string): string => {
    let real: string
    try {
      real = realpathSync(path)
    } catch {
      throw new FlotillaError(
        'AGENT_SPEC_INVALID',
        `field "${field}": no module "${relative(modules, path)}" in the agent modules folder.`,
        { details: { field } },
      )
    }
    const rel = relative(modules, real)
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel))
      throw new FlotillaError(
        'PERMISSION_DENIED',
        `field "${field}": the module lies outside the agent modules folder; the API deploys only code put there.`,
        { details: { field, action: 'deploy', reason: 'outside the agent modules folder' } },
      )
    return real
  }
  return {
    agents: team.agents,
    bus: team.bus,
    modules,
    parseSpec(spec) {
      const parsed = parseAgentSpec(spec, { source: '(request body)', baseDir: modules })
      const module = parsed.module === '' ? undefined : inside('module', parsed.module)
      const toolsModule = parsed.toolsModule === undefined ? undefined : inside('toolsModule', parsed.toolsModule)
      for (const name of Object.keys(parsed.env))
        if (FORBIDDEN_ENV.test(name))
          throw new FlotillaError(
            'AGENT_SPEC_INVALID',
            `field "env.${name}": the API does not set ${name} (variables that load code or change the search path are refused).`,
            { details: { field: `env.${name}` } },
          )
      // The spec as sent, its module paths made absolute (deploy validates it again with the same schema).
      return {
        ...(spec as Record<string, unknown>),
        ...(module === undefined ? {} : { module }),
        ...(toolsModule === undefined ? {} : { toolsModule }),
      }
    },
    onEvent(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    close: () => team.close(),
  }
}
