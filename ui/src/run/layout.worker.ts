/// <reference lib="webworker" />
import { Graph, layout } from '@dagrejs/dagre'
import type { LayoutRequest, LayoutResult } from './layout-types'

/** Lays a graph out in layers (dagre), off the main thread. */
self.onmessage = (e: MessageEvent<LayoutRequest>) => {
  const req = e.data
  const g = new Graph()
  g.setGraph({ rankdir: req.direction, nodesep: 16, ranksep: 48, marginx: 8, marginy: 8 })
  g.setDefaultEdgeLabel(() => ({}))
  for (const n of req.nodes) g.setNode(n.id, { width: n.width, height: n.height })
  for (const [from, to] of req.edges) g.setEdge(from, to)
  layout(g)
  const positions: LayoutResult['positions'] = {}
  for (const n of req.nodes) {
    const p = g.node(n.id)
    positions[n.id] = { x: p.x - n.width / 2, y: p.y - n.height / 2 }
  }
  const result: LayoutResult = { id: req.id, positions }
  self.postMessage(result)
}
