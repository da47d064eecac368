import { Background, Controls, MarkerType, ReactFlow, type Edge, type Node } from '@xyflow/react'
import { useMemo } from 'react'
import { box, useLayout } from '../flow/flow'
import type { LayoutRequest } from '../flow/layout-types'
import type { Lineage, LineageNode } from './lineage-model'

const NODE_W = 170
const NODE_H = 44

function label(n: LineageNode) {
  if (n.kind === 'artifact' && n.artifact !== null)
    return (
      <span title={`${n.artifact.id} v${n.artifact.version} by ${n.artifact.createdBy}`}>
        <b>{n.artifact.id}</b> v{n.artifact.version}
      </span>
    )
  return (
    <span title={`task ${n.taskId ?? ''} of run ${n.runId ?? ''}${n.agent === null ? '' : ` (agent ${n.agent})`}`}>
      ⚙ {n.taskId}
      {n.agent !== null && <small> · {n.agent}</small>}
    </span>
  )
}

/**
 * The lineage of artifacts with xyflow, laid out in layers by dagre in a web
 * worker: a node per kept version and per task that wrote one; edges from a
 * task to what it wrote, from a version to the next, and (dotted) from a
 * writing task to the writing tasks downstream of it in its run.
 */
export function LineageGraph({
  lineage,
  selected,
  onArtifact,
  onTask,
}: {
  lineage: Lineage
  selected: string | undefined
  onArtifact: (id: string) => void
  onTask: (runId: string) => void
}) {
  const shape =
    lineage.nodes.map((n) => n.id).join('\n') + '\n\n' + lineage.edges.map((e) => `${e.from}>${e.to}`).join('\n')
  const request = useMemo(
    (): Omit<LayoutRequest, 'id'> => ({
      direction: 'LR',
      spacing: { node: 14, layer: 56 },
      nodes: lineage.nodes.map((n) => ({ id: n.id, width: NODE_W, height: NODE_H })),
      edges: lineage.edges.map((e): [string, string] => [e.from, e.to]),
    }),
    // Laid out again only when nodes or edges change, not on every read of the same graph.
    [shape],
  )
  const positions = useLayout(lineage.nodes.length === 0 ? undefined : request)
  const byId = useMemo(() => new Map(lineage.nodes.map((n) => [n.id, n])), [lineage])
  const nodes = useMemo(
    (): Node[] =>
      positions === undefined
        ? []
        : lineage.nodes.map((n) => ({
            id: n.id,
            position: positions[n.id] ?? { x: 0, y: 0 },
            data: { label: label(n) },
            className: `flow-lineage ${n.kind}${n.artifact !== null && n.artifact.id === selected ? ' selected-artifact' : ''}`,
            ...box(NODE_W, NODE_H),
            draggable: false,
            connectable: false,
            ariaLabel:
              n.kind === 'artifact' ? `artifact ${n.artifact?.id} version ${n.artifact?.version}` : `task ${n.taskId}`,
          })),
    [lineage, positions, selected],
  )
  const edges = useMemo(
    (): Edge[] =>
      lineage.edges.map((e) => ({
        id: `${e.kind}:${e.from}>${e.to}`,
        source: e.from,
        target: e.to,
        className: `lineage-${e.kind}`,
        markerEnd: { type: MarkerType.ArrowClosed },
        ...(e.kind === 'upstream' ? { animated: false, style: { strokeDasharray: '2 4' } } : {}),
        ...(e.kind === 'revised' ? { style: { strokeDasharray: '6 3' } } : {}),
      })),
    [lineage],
  )
  return (
    <div className="graph" data-testid="lineage">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        fitView
        minZoom={0.1}
        nodesFocusable
        onNodeClick={(_, node) => {
          const n = byId.get(node.id)
          if (n?.artifact != null) onArtifact(n.artifact.id)
          else if (n?.runId != null) onTask(n.runId)
        }}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  )
}
