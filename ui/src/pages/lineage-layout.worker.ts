/// <reference lib="webworker" />
import { Graph, layout } from '@dagrejs/dagre'
import type { LineageLayoutRequest, LineageLayoutResult } from './lineage-model'

/** Lays the lineage graph out in layers (dagre), off the main thread. */
self.onmessage = (e: MessageEvent<LineageLayoutRequest>) => {
  const req = e.data
  const g = new Graph()
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 56, marginx: 8, marginy: 8 })
  g.setDefaultEdgeLabel(() => ({}))
  for (const n of req.nodes) g.setNode(n.id, { width: n.width, height: n.height })
  for (const [from, to] of req.edges) g.setEdge(from, to)
  layout(g)
  const positions: LineageLayoutResult['positions'] = {}
  for (const n of req.nodes) {
    const p = g.node(n.id)
    positions[n.id] = { x: p.x - n.width / 2, y: p.y - n.height / 2 }
  }
  self.postMessage({ id: req.id, positions } satisfies LineageLayoutResult)
}
