/** The lineage graph as `GET /lineage` answers it (see docs/api.md). */

/** One kept version of an artifact, without its content. */
export interface ArtifactVersion {
  id: string
  version: number
  size: number
  contentHash: string
  tags: string[]
  createdBy: string
  createdAt: number
  basedOn: number | null
  runId: string | null
  taskId: string | null
}

export interface LineageNode {
  id: string
  kind: 'artifact' | 'task'
  artifact: ArtifactVersion | null
  runId: string | null
  taskId: string | null
  agent: string | null
  workflow: string | null
}

export interface LineageEdge {
  from: string
  to: string
  kind: 'wrote' | 'revised' | 'upstream'
}

export interface Lineage {
  nodes: LineageNode[]
  edges: LineageEdge[]
  truncated: boolean
}
