import type { AgentSelector } from '../agent-pool.js'

/**
 * What {@link agentGraph} reads of a workflow: a compiled `Workflow` fits
 * (kept structural so that the registry does not depend on the workflows
 * layer).
 */
export interface GraphWorkflow {
  readonly name?: string
  readonly tasks: readonly { readonly selector: AgentSelector; readonly deps: ArrayLike<number> }[]
}

/** An agent (or a capability, when tasks ask for one) in an {@link AgentGraph}. */
export interface AgentGraphNode {
  /** `name`, `name@version` for a pinned version, or `capability:NAME`. */
  id: string
  kind: 'agent' | 'capability'
  /** Tasks that use it, over all the workflows. */
  tasks: number
}

/** `from`'s output feeds `to`'s input in `count` task dependencies. */
export interface AgentGraphEdge {
  from: string
  to: string
  count: number
}

/** Which agents feed which, as data. */
export interface AgentGraph {
  nodes: AgentGraphNode[]
  edges: AgentGraphEdge[]
}

function nodeId(selector: AgentSelector): string {
  if ('capability' in selector) return `capability:${selector.capability}`
  return selector.version === undefined ? selector.agent : `${selector.agent}@${selector.version}`
}

/**
 * The dependency graph of agents over some workflows: a node per agent (or
 * capability) that a task asks for, and an edge `A → B` counting the task
 * dependencies where a task of A feeds a task of B (self-edges included).
 * Nodes and edges come in order of first appearance; JSON-safe.
 *
 * @example
 * ```ts
 * agentGraph([scanAndFix])
 * // { nodes: [{ id: 'scanner', kind: 'agent', tasks: 1 }, { id: 'capability:fix', kind: 'capability', tasks: 1 }],
 * //   edges: [{ from: 'scanner', to: 'capability:fix', count: 1 }] }
 * ```
 */
export function agentGraph(workflows: readonly GraphWorkflow[]): AgentGraph {
  const nodes = new Map<string, AgentGraphNode>()
  const edges = new Map<string, AgentGraphEdge>()
  for (const wf of workflows) {
    const ids = wf.tasks.map((task) => nodeId(task.selector))
    wf.tasks.forEach((task, i) => {
      const id = ids[i]
      const node = nodes.get(id)
      if (node) node.tasks++
      else nodes.set(id, { id, kind: 'capability' in task.selector ? 'capability' : 'agent', tasks: 1 })
    })
    wf.tasks.forEach((task, i) => {
      for (let k = 0; k < task.deps.length; k++) {
        const from = ids[task.deps[k]]
        if (from === undefined) continue
        const key = `${from}\u0000${ids[i]}`
        const edge = edges.get(key)
        if (edge) edge.count++
        else edges.set(key, { from, to: ids[i], count: 1 })
      }
    })
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] }
}
