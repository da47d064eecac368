/** What the layout worker is asked: a graph, its direction and its spacing. */
export interface LayoutRequest {
  id: number
  direction: 'LR' | 'TB'
  /** Space between nodes of one layer, and between layers (pixels). */
  spacing?: { node: number; layer: number }
  nodes: { id: string; width: number; height: number }[]
  edges: [string, string][]
}

/** What it answers: the top-left corner of each node. */
export interface LayoutResult {
  id: number
  positions: Record<string, { x: number; y: number }>
}
