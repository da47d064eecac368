/**
 * What the supervisor settles before it deploys an agent, none of it
 * touching a runtime or the store: the spec's name and module checked, the
 * parent allowed to have children, the child's permissions and limits
 * carved from its parent's (a root's parsed, with the supervisor's default
 * limits), its tree budget parsed, its runtime chosen, its workspace, and
 * the PENDING record that is stored first.
 */
import { join } from 'node:path'
import { FlotillaError } from '../core/errors.js'
import { newAgentId } from '../core/ids.js'
import type { Budget } from '../models/budget.js'
import { inheritPermissions, parsePermissions, type Permission } from '../security/permissions.js'
import type { AgentRecord } from '../store/records.js'
import { carveLimits, parseLimits, storedLimits } from './limits.js'
import type { LiveAgent } from './live-agent.js'
import type { Runtime } from './runtime.js'
import { parseTreeBudget } from './tree-budget.js'
import type { AgentDeployment, DeployOptions, SupervisorOptions } from './supervisor-types.js'

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i

/** A deployment ready to start: its first record and what goes with it. */
export interface DeployPlan {
  /** The PENDING record to store, with the agent's new id. */
  readonly record: AgentRecord
  readonly permissions: readonly Permission[]
  /** The agent's own tree budget (`budget.tree`), if it has one. */
  readonly treeBudget: Budget | undefined
  readonly runtime: Runtime
  readonly workspace: string
}

/** What {@link planDeployment} needs besides the deployment. */
export interface DeployPlanInput {
  readonly deployment: AgentDeployment
  readonly options: DeployOptions
  /** The live parent, for a child. */
  readonly parent: LiveAgent | undefined
  /** The supervisor's runtimes by kind, the first one the default. */
  readonly runtimes: ReadonlyMap<string, Runtime>
  readonly supervisor: Pick<SupervisorOptions, 'defaultLimits' | 'defaultRuntime' | 'workspaceRoot'>
  /** Wall-clock ms, read once the plan is valid. */
  readonly now: () => number
}

/** `AGENT_SPEC_INVALID` for a deployment without a valid name, or without a module unless it names a model. */
export function checkDeployment(deployment: AgentDeployment): void {
  const name = deployment.name
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new FlotillaError(
      'AGENT_SPEC_INVALID',
      `Agent name "${String(name)}" must be 1–63 letters, digits, ".", "_" or "-".`,
      { details: { field: 'name' } },
    )
  }
  if (deployment.model === undefined && (typeof deployment.module !== 'string' || deployment.module.length === 0)) {
    throw new FlotillaError(
      'AGENT_SPEC_INVALID',
      `Agent "${name}": module must be the path of the module holding its handler.`,
      { details: { field: 'module' } },
    )
  }
}

/**
 * Plans a deployment checked by {@link checkDeployment}. Throws
 * `AGENT_TERMINATED` or `AGENT_STATE_INVALID` when the parent is neither
 * running nor paused, `PERMISSION_ESCALATION` or `RESOURCE_LIMIT_EXCEEDED`
 * when a child asks for more than its parent has, and `AGENT_SPEC_INVALID`
 * for invalid limits, budget or an unknown runtime.
 */
export function planDeployment(input: DeployPlanInput): DeployPlan {
  const { deployment, options, parent, runtimes, supervisor } = input
  const name = deployment.name
  if (parent && parent.record.state !== 'RUNNING' && parent.record.state !== 'PAUSED') {
    throw new FlotillaError(
      parent.record.state === 'TERMINATED' ? 'AGENT_TERMINATED' : 'AGENT_STATE_INVALID',
      `Parent ${parent.record.id} is ${parent.record.state}; only a running or paused agent can have children.`,
      {
        details: { agent: parent.record.id, state: parent.record.state },
      },
    )
  }
  const permissions = parent
    ? inheritPermissions(parent.perms.grants, deployment.permissions, `Child "${name}"`)
    : parsePermissions(deployment.permissions ?? [])
  const limits = parent
    ? carveLimits(storedLimits(parent.record), deployment.limits ?? {}, name)
    : parseLimits(deployment.limits ?? supervisor.defaultLimits)
  const treeBudget = parseTreeBudget(deployment.budget, name)
  const kind =
    options.runtime ??
    deployment.runtime ??
    parent?.runtime.kind ??
    supervisor.defaultRuntime ??
    [...runtimes.keys()][0]
  const runtime = runtimes.get(kind)
  if (!runtime) {
    throw new FlotillaError(
      'AGENT_SPEC_INVALID',
      `Agent "${name}": no runtime "${kind}"; available: ${[...runtimes.keys()].join(', ')}.`,
      { details: { field: 'runtime' } },
    )
  }
  const id = newAgentId()
  const workspace = options.workspace ?? parent?.workspace ?? join(supervisor.workspaceRoot, `${name}-${id}`)
  const at = input.now()
  const record: AgentRecord = {
    id,
    name,
    version: deployment.version ?? '1.0.0',
    parentId: parent?.record.id ?? null,
    runtime: kind,
    state: 'PENDING',
    reason: null,
    spec: JSON.parse(JSON.stringify({ ...deployment, runtime: kind })) as Record<string, unknown>,
    permissions: permissions.map((p) => ({ resource: p.resource, actions: [...p.actions] })),
    limits: { ...limits },
    pid: null,
    createdAt: at,
    updatedAt: at,
  }
  return { record, permissions, treeBudget, runtime, workspace }
}
