import type { RunRecord, TaskRecord } from '../store/records.js'

/** One run of a tree of runs, with the model spend of each agent that ran its tasks. */
export interface RunTreeNode {
  runId: string
  workflow: string
  state: string
  /** The task of the parent run whose plan (or spawned agent) this run is; absent at the root. */
  parentTaskId: string | null
  /** Per agent (`name@version`): tasks run, model calls and cost in US dollars. */
  agents: { agent: string; tasks: number; calls: number; costUsd: number }[]
  children: RunTreeNode[]
}

/** What {@link runTree} reads. */
export interface RunTreeSource {
  listRuns(filter: { parentRunId: string; limit: number }): Promise<RunRecord[]>
  getTasks(runId: string): Promise<TaskRecord[]>
}

/** The tree of a run and its child runs (those planned by its tasks), oldest child first, at most `depth` levels. */
export async function runTree(source: RunTreeSource, record: RunRecord, depth = 8): Promise<RunTreeNode> {
  const tasks = await source.getTasks(record.id)
  const agents = new Map<string, { agent: string; tasks: number; calls: number; costUsd: number }>()
  for (const t of tasks) {
    if (t.agent === undefined) continue
    const a = agents.get(t.agent) ?? { agent: t.agent, tasks: 0, calls: 0, costUsd: 0 }
    a.tasks++
    a.calls += t.model?.calls ?? 0
    a.costUsd += t.model?.costUsd ?? 0
    agents.set(t.agent, a)
  }
  const children =
    depth <= 0
      ? []
      : (await source.listRuns({ parentRunId: record.id, limit: 10_000 }))
          .filter((r) => r.parentTaskId !== undefined)
          .reverse()
  return {
    runId: record.id,
    workflow: record.workflow,
    state: record.state,
    parentTaskId: record.parentTaskId ?? null,
    agents: [...agents.values()],
    children: await Promise.all(children.map((c) => runTree(source, c, depth - 1))),
  }
}

/** The tree as indented lines: each run with its state, then its agents with their cost, then its children. */
export function formatRunTree(node: RunTreeNode, indent = ''): string[] {
  const head = `${indent}${node.parentTaskId === null ? '' : `[${node.parentTaskId}] → `}${node.runId} "${node.workflow}" ${node.state}`
  const lines = [head]
  for (const a of node.agents)
    lines.push(
      `${indent}    · ${a.agent}: ${a.tasks} ${a.tasks === 1 ? 'task' : 'tasks'}, ${a.calls} model ${a.calls === 1 ? 'call' : 'calls'}, $${a.costUsd.toFixed(4)}`,
    )
  for (const c of node.children) lines.push(...formatRunTree(c, `${indent}  `))
  return lines
}
