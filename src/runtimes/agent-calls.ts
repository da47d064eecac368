/**
 * The ctx service calls a deployed agent makes of its supervisor through
 * its runtime: `spawn`, `child.execute` and `child.terminate` on its own
 * children are the supervisor's (a spawn from a template goes to the
 * supervisor's `spawnTemplate`); `subscribe` needs a runtime that delivers
 * events; the rest go to the outward services the supervisor was given.
 */
import { FlotillaError } from '../core/errors.js'
import type { ChildAgentRef, ChildAgentRequest, TemplateSpawnRequest } from '../agents/context.js'
import type { ServiceOps } from '../agents/service-members.js'
import { info } from './agent-directory.js'
import { childDeployment } from './limits.js'
import { runsLineage, type LiveAgent } from './live-agent.js'
import { serveBudgetCall, type TreeBudgets } from './tree-budget.js'
import type { AgentDeployment, AgentInfo, DeployOptions, SupervisorOptions } from './supervisor-types.js'

/** What {@link AgentCalls} needs of the supervisor it serves. */
export interface AgentCallsHost {
  /** The model budgets of the agent trees: `budget.hold` and `budget.settle` are served from them. */
  readonly budgets: TreeBudgets
  deploy(deployment: AgentDeployment, options: DeployOptions): Promise<AgentInfo>
  execute(agentId: string, input: unknown): Promise<unknown>
  terminate(agentId: string, reason: string): Promise<void>
  /** A live agent by id. */
  live(agentId: string): LiveAgent | undefined
  /** The outward services of an agent (`SupervisorOptions.services`). */
  readonly services: SupervisorOptions['services']
  /** Serves spawns from templates (`SupervisorOptions.spawnTemplate`). */
  readonly spawnTemplate: SupervisorOptions['spawnTemplate']
}

/** Serves the ctx service calls of the agents of one supervisor, which composes it. */
export class AgentCalls {
  /** The agents each deployed agent spawned from templates, by agent id, then by the spawned agent's name. */
  private readonly spawned = new Map<string, Map<string, ChildAgentRef>>()

  constructor(private readonly host: AgentCallsHost) {}

  /** Answers the call `op` (with `args`) of the agent `entry`. */
  async serve(entry: LiveAgent, op: string, args: unknown): Promise<unknown> {
    const a = (args ?? {}) as Record<string, unknown>
    switch (op) {
      case 'spawn':
        if (typeof a.spec === 'object' && a.spec !== null && 'template' in a.spec)
          return this.spawnTemplate(entry, a.spec as TemplateSpawnRequest, a)
        return this.host
          .deploy(childDeployment(entry.deployment, a.spec as ChildAgentRequest), { parentId: entry.record.id })
          .then((c) => ({ id: c.id, name: c.name }))
      case 'child.execute': {
        const made = typeof a.id === 'string' ? this.spawned.get(entry.record.id)?.get(a.id) : undefined
        if (made !== undefined) return made.execute(a.input)
        return this.host.execute(this.ownChild(entry, a.id).record.id, a.input)
      }
      case 'child.terminate': {
        const made = typeof a.id === 'string' ? this.spawned.get(entry.record.id)?.get(a.id) : undefined
        if (made !== undefined) {
          this.spawned.get(entry.record.id)?.delete(made.id)
          await made.terminate()
          return null
        }
        await this.host.terminate(this.ownChild(entry, a.id).record.id, `terminated by parent ${entry.record.id}`)
        return null
      }
      case 'budget.hold':
      case 'budget.settle':
        return serveBudgetCall(this.host.budgets, entry.record.id, entry.record.name, op, a)
      case 'subscribe':
        if (!entry.handle?.deliver)
          throw new FlotillaError(
            'AGENT_STATE_INVALID',
            `Agent "${entry.record.name}" cannot subscribe: its runtime "${entry.runtime.kind}" does not deliver events.`,
          )
    }
    entry.services ??= this.host.services?.(info(entry.record), entry.perms)
    if (!entry.services)
      throw new FlotillaError(
        'AGENT_STATE_INVALID',
        `Agent "${entry.record.name}" has no ${op} service here: deploy it through an Orchestrator, which provides messaging and artifacts.`,
      )
    return entry.services(op as keyof ServiceOps, args as never)
  }

  /** Forgets the agents `agentId` spawned from templates (it ended). */
  forget(agentId: string): void {
    this.spawned.delete(agentId)
  }

  /**
   * `ctx.spawn({ template })` of a deployed agent: made by the host's
   * `spawnTemplate`, carved from the agent's permissions and what its tree
   * budget has left, with what it spends charged to that budget; kept so
   * that `child.execute` and `child.terminate` reach it.
   */
  private spawnTemplate(
    entry: LiveAgent,
    request: TemplateSpawnRequest,
    a: Record<string, unknown>,
  ): { id: string; name: string } {
    const spawn = this.host.spawnTemplate
    if (spawn === undefined)
      throw new FlotillaError(
        'AGENT_STATE_INVALID',
        `Agent "${entry.record.name}" cannot spawn from template "${String(request.template)}": its supervisor has no templates; deploy it through an Orchestrator that registers the template.`,
      )
    const agentId = entry.record.id
    const linked = typeof a.runId === 'string' && typeof a.taskId === 'string'
    if (linked && !runsLineage(entry, a.runId as string, a.taskId as string))
      throw new FlotillaError(
        'PERMISSION_DENIED',
        `Agent "${entry.record.name}" spawns for task ${String(a.taskId)} of run ${String(a.runId)}, which it is not running; a spawn belongs to the task of the command that makes it.`,
        {
          details: {
            agent: entry.record.name,
            resource: `run:${String(a.runId)}`,
            action: 'spawn',
            reason: 'it runs no command for that task',
          },
        },
      )
    const budgetLeft = this.host.budgets.left(agentId)
    const ref = spawn(
      {
        agent: info(entry.record),
        permissions: entry.perms.grants,
        budgetLeft,
        ...(linked ? { runId: a.runId as string, taskId: a.taskId as string } : {}),
        charge: (used) => this.host.budgets.charge(agentId, used),
      },
      request,
    )
    let made = this.spawned.get(agentId)
    if (made === undefined) this.spawned.set(agentId, (made = new Map()))
    made.set(ref.id, ref)
    return { id: ref.id, name: ref.name }
  }

  /** The child `id` of `entry`; `PERMISSION_DENIED` for any other agent. */
  private ownChild(entry: LiveAgent, id: unknown): LiveAgent {
    const child = typeof id === 'string' ? this.host.live(id) : undefined
    if (!child || child.record.parentId !== entry.record.id) {
      throw new FlotillaError(
        'PERMISSION_DENIED',
        `Agent "${entry.record.name}" may only command its own children; ${String(id)} is not one.`,
        {
          details: {
            agent: entry.record.name,
            resource: `agent:${String(id)}`,
            action: 'command',
            reason: 'it may only command its own children',
            child: String(id),
          },
        },
      )
    }
    return child
  }
}
