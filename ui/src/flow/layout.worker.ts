/// <reference lib="webworker" />
import { Graph, layout } from '@dagrejs/dagre'
import type { LayoutRequest, LayoutResult } from './layout-types'

/** Lays a graph out in layers (dagre), off the main thread. */
self.onmessage = (e: MessageEvent<LayoutRequest>) => {
  const req = e.data
  const g = new Graph()
  const spacing = req.spacing ?? { node: 16, layer: 48 }
  g.setGraph({ rankdir: req.direction, nodesep: spacing.node, ranksep: spacing.layer, marginx: 8, marginy: 8 })
  g.setDefaultEdgeLabel(() => ({}))
  for (const n of req.nodes) g.setNode(n.id, { width: n.width, height: n.height })
  for (const [from, to] of req.edges) g.setEdge(from, to)
  layout(g)
  const positions: LayoutResult['positions'] = {}
  for (const n of req.nodes) {
    const p = g.node(n.id)
    positions[n.id] = { x: p.x - n.width / 2, y: p.y - n.height / 2 }
  }
  self.postMessage({ id: req.id, positions } satisfies LayoutResult)
}
