import type { ContextStore } from '../context/context-store.js'
import type { ArtifactInfo } from '../context/types.js'
import { isFlotillaError } from '../core/errors.js'
import type { Client } from '../orchestrator/client.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { compileWorkflow } from '../workflows/compile.js'

/** A node of the lineage graph: one kept version of an artifact, or a task that wrote one. */
export interface LineageNode {
  /** `artifact:<id>@<version>` or `task:<runId>/<taskId>`. */
  readonly id: string
  readonly kind: 'artifact' | 'task'
  /** The artifact and its version (artifact nodes). */
  readonly artifact: ArtifactInfo | null
  /** The run and task (task nodes). */
  readonly runId: string | null
  readonly taskId: string | null
  /** The agent the task names (task nodes whose run the key may read), else null. */
  readonly agent: string | null
  /** The workflow of the run (task nodes whose run the key may read), else null. */
  readonly workflow: string | null
}

/**
 * An edge of the lineage graph: `wrote` (a task wrote a version), `revised`
 * (a version was based on an earlier one) or `upstream` (the task `from`
 * ran before `to` in one run, `to` waiting for it: the nearest writing
 * ancestors in the run's dependency graph).
 */
export interface LineageEdge {
  readonly from: string
  readonly to: string
  readonly kind: 'wrote' | 'revised' | 'upstream'
}

/** The lineage of the artifacts a principal may read. */
export interface LineageGraph {
  readonly nodes: LineageNode[]
  readonly edges: LineageEdge[]
  /** True when more artifacts (or runs) matched than were drawn. */
  readonly truncated: boolean
}

/** Options of {@link artifactLineage}. */
export interface LineageOptions {
  /** Only artifacts whose id starts with this. */
  readonly prefix?: string
  /** Only artifacts with a version written in this run. */
  readonly runId?: string
  /** Most artifacts drawn (by id). @default 100 */
  readonly limit?: number
  /** Most runs whose graphs are read for `upstream` edges. @default 50 */
  readonly maxRuns?: number
}

const artifactNode = (a: ArtifactInfo): string => `artifact:${a.id}@${a.version}`
const taskNode = (runId: string, taskId: string): string => `task:${runId}/${taskId}`

/**
 * Builds the lineage graph of the artifacts `principal` may read (every kept
 * version), from the lineage the context store records on each write (the
 * version it was based on, the run and task that wrote it), joined with the
 * dependency graphs of those runs the principal may read (`mayReadRun`).
 */
export async function artifactLineage(
  parts: { context: ContextStore; client: Client },
  principal: { name: string; mayReadArtifact: (id: string) => boolean; mayReadRun: (runId: string) => boolean },
  options: LineageOptions = {},
): Promise<LineageGraph> {
  const access = parts.context.as(principal.name)
  const latest = (await access.list(options.prefix === undefined ? {} : { prefix: options.prefix }))
    .filter((a) => principal.mayReadArtifact(a.id))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const limit = options.limit ?? 100
  let truncated = false
  const versions: ArtifactInfo[] = []
  let drawn = 0
  for (const a of latest) {
    if (drawn >= limit) {
      truncated = true
      break
    }
    let kept: ArtifactInfo[]
    try {
      kept = await access.history(a.id)
    } catch (e) {
      if (isFlotillaError(e) && (e.code === 'ARTIFACT_NOT_FOUND' || e.code === 'ARTIFACT_EXPIRED')) continue // gone meanwhile
      throw e
    }
    if (options.runId !== undefined && !kept.some((v) => v.runId === options.runId)) continue
    drawn++
    versions.push(...kept)
  }
  const nodes = new Map<string, LineageNode>()
  const edges: LineageEdge[] = []
  const writers = new Map<string, Set<string>>() // runId → writing tasks
  for (const v of versions) {
    nodes.set(artifactNode(v), {
      id: artifactNode(v),
      kind: 'artifact',
      artifact: v,
      runId: null,
      taskId: null,
      agent: null,
      workflow: null,
    })
    if (v.basedOn !== null)
      edges.push({ from: artifactNode({ ...v, version: v.basedOn }), to: artifactNode(v), kind: 'revised' })
    if (v.runId !== null && v.taskId !== null) {
      let tasks = writers.get(v.runId)
      if (tasks === undefined) writers.set(v.runId, (tasks = new Set()))
      tasks.add(v.taskId)
      edges.push({ from: taskNode(v.runId, v.taskId), to: artifactNode(v), kind: 'wrote' })
    }
  }
  const maxRuns = options.maxRuns ?? 50
  let runsRead = 0
  for (const [runId, tasks] of writers) {
    let graph: Awaited<ReturnType<typeof runGraph>>
    if (principal.mayReadRun(runId)) {
      if (runsRead < maxRuns) {
        runsRead++
        graph = await runGraph(parts.client, runId)
      } else truncated = true
    }
    for (const taskId of tasks)
      nodes.set(taskNode(runId, taskId), {
        id: taskNode(runId, taskId),
        kind: 'task',
        artifact: null,
        runId,
        taskId,
        agent: graph?.agents.get(taskId) ?? null,
        workflow: graph?.workflow ?? null,
      })
    if (graph === undefined) continue
    for (const taskId of tasks)
      for (const from of nearestWriters(graph.deps, tasks, taskId))
        edges.push({ from: taskNode(runId, from), to: taskNode(runId, taskId), kind: 'upstream' })
  }
  // A version based on one no longer kept has no node to come from.
  return { nodes: [...nodes.values()], edges: edges.filter((e) => nodes.has(e.from) && nodes.has(e.to)), truncated }
}

/** A run's tasks: what each waits for and the agent it names; undefined when the run is gone. */
async function runGraph(
  client: Client,
  runId: string,
): Promise<{ workflow: string; deps: Map<string, string[]>; agents: Map<string, string> } | undefined> {
  let record
  try {
    record = await client.getRun(runId)
  } catch (e) {
    if (isFlotillaError(e) && e.code === 'RUN_NOT_FOUND') return undefined
    throw e
  }
  const workflow = compileWorkflow(record.definition as WorkflowSpec)
  const deps = new Map<string, string[]>()
  const agents = new Map<string, string>()
  for (const t of workflow.tasks) {
    deps.set(
      t.id,
      Array.from(t.deps, (i) => workflow.tasks[i]?.id ?? ''),
    )
    if ('agent' in t.selector) agents.set(t.id, t.selector.agent)
  }
  return { workflow: record.workflow, deps, agents }
}

/** The writing tasks nearest above `taskId`: walking up its dependencies, stopping at each writer met. */
function nearestWriters(deps: ReadonlyMap<string, string[]>, writers: ReadonlySet<string>, taskId: string): string[] {
  const found = new Set<string>()
  const seen = new Set<string>([taskId])
  const stack = [...(deps.get(taskId) ?? [])]
  while (stack.length > 0) {
    const t = stack.pop() as string
    if (seen.has(t)) continue
    seen.add(t)
    if (writers.has(t)) found.add(t)
    else stack.push(...(deps.get(t) ?? []))
  }
  return [...found].sort()
}
