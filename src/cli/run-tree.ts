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
  /**
   * True for the child run of a replayed run whose task the replay kept
   * (`--children keep`): its outputs were reused, nothing of it ran again.
   */
  kept?: true
  children: RunTreeNode[]
}

/** What {@link runTree} reads of a run. */
export type TreeRun = Pick<RunRecord, 'id' | 'workflow' | 'state' | 'parentRunId' | 'parentTaskId'>
/** What {@link runTree} reads of a task. */
export type TreeTask = Pick<TaskRecord, 'taskId' | 'agent' | 'state' | 'model'>

/** What {@link runTree} reads: a store, or the HTTP API (`runs show --server`). */
export interface RunTreeSource {
  listRuns(filter: { parentRunId: string; limit: number }): Promise<TreeRun[]>
  getTasks(runId: string): Promise<TreeTask[]>
  getRun(runId: string): Promise<TreeRun | undefined>
}

/** The tree of a run and its child runs (those planned by its tasks), oldest child first, at most `depth` levels. */
export async function runTree(source: RunTreeSource, record: TreeRun, depth = 8): Promise<RunTreeNode> {
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
  const children = depth <= 0 ? [] : await childRuns(source, record.id)
  const kept = depth <= 0 ? [] : await keptChildren(source, record, tasks, children)
  return {
    runId: record.id,
    workflow: record.workflow,
    state: record.state,
    parentTaskId: record.parentTaskId ?? null,
    agents: [...agents.values()],
    children: [
      ...(await Promise.all(
        kept.map(async (c) => ({ ...(await runTree(source, c, depth - 1)), kept: true as const })),
      )),
      ...(await Promise.all(children.map((c) => runTree(source, c, depth - 1)))),
    ],
  }
}

/** The child runs of a run (those planned by its tasks, not its replays), oldest first. */
async function childRuns(source: RunTreeSource, runId: string): Promise<TreeRun[]> {
  return (await source.listRuns({ parentRunId: runId, limit: 10_000 }))
    .filter((r) => r.parentTaskId !== undefined)
    .reverse()
}

/**
 * For a replay: the child runs of the replayed run (and of the run it
 * replayed, and so on) whose task the replay kept, succeeded without a child
 * run of its own.
 */
async function keptChildren(
  source: RunTreeSource,
  record: TreeRun,
  tasks: readonly TreeTask[],
  own: readonly TreeRun[],
): Promise<TreeRun[]> {
  const open = new Set(tasks.filter((t) => t.state === 'SUCCEEDED').map((t) => t.taskId as string))
  for (const c of own) open.delete(c.parentTaskId as string)
  const kept: TreeRun[] = []
  let from = record
  for (
    let hops = 0;
    open.size > 0 && hops < 8 && from.parentRunId !== undefined && from.parentTaskId === undefined;
    hops++
  ) {
    const replayed = await source.getRun(from.parentRunId)
    if (replayed === undefined) break
    const found = await childRuns(source, replayed.id)
    for (const c of found) if (open.has(c.parentTaskId as string) && c.state === 'SUCCEEDED') kept.push(c)
    for (const c of found) open.delete(c.parentTaskId as string)
    from = replayed
  }
  return kept
}

/** The tree as indented lines: each run with its state, then its agents with their cost, then its children. */
export function formatRunTree(node: RunTreeNode, indent = ''): string[] {
  const link = node.kept === true ? ' kept from the replayed run → ' : ' → '
  const head = `${indent}${node.parentTaskId === null ? '' : `[${node.parentTaskId}]${link}`}${node.runId} "${node.workflow}" ${node.state}`
  const lines = [head]
  for (const a of node.agents)
    lines.push(
      `${indent}    · ${a.agent}: ${a.tasks} ${a.tasks === 1 ? 'task' : 'tasks'}, ${a.calls} model ${a.calls === 1 ? 'call' : 'calls'}, $${a.costUsd.toFixed(4)}`,
    )
  for (const c of node.children) lines.push(...formatRunTree(c, `${indent}  `))
  return lines
}
