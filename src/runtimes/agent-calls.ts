/**
 * The ctx service calls a deployed agent makes of its supervisor through
 * its runtime: `spawn`, `child.execute` and `child.terminate` on its own
 * children are the supervisor's; `subscribe` needs a runtime that delivers
 * events; the rest go to the outward services the supervisor was given.
 */
import { FlotillaError } from '../core/errors.js'
import type { ChildAgentRequest } from '../agents/context.js'
import type { ServiceOps } from '../agents/service-members.js'
import { info } from './agent-directory.js'
import { childDeployment } from './limits.js'
import type { LiveAgent } from './live-agent.js'
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
}

/** Serves the ctx service calls of the agents of one supervisor, which composes it. */
export class AgentCalls {
  constructor(private readonly host: AgentCallsHost) {}

  /** Answers the call `op` (with `args`) of the agent `entry`. */
  async serve(entry: LiveAgent, op: string, args: unknown): Promise<unknown> {
    const a = (args ?? {}) as Record<string, unknown>
    switch (op) {
      case 'spawn':
        if (typeof a.spec === 'object' && a.spec !== null && 'template' in a.spec)
          throw new FlotillaError(
            'AGENT_STATE_INVALID',
            `Agent "${entry.record.name}" is a deployed agent: spawning from a template is for tasks an orchestrator runs; deploy a child with { name, module } instead.`,
          )
        return this.host
          .deploy(childDeployment(entry.deployment, a.spec as ChildAgentRequest), { parentId: entry.record.id })
          .then((c) => ({ id: c.id, name: c.name }))
      case 'child.execute':
        return this.host.execute(this.ownChild(entry, a.id).record.id, a.input)
      case 'child.terminate':
        await this.host.terminate(this.ownChild(entry, a.id).record.id, `terminated by parent ${entry.record.id}`)
        return null
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
