/** What the layout worker is asked. */
export interface LayoutRequest {
  id: number
  direction: 'LR' | 'TB'
  nodes: { id: string; width: number; height: number }[]
  edges: [string, string][]
}

/** What it answers: the top-left corner of each node. */
export interface LayoutResult {
  id: number
  positions: Record<string, { x: number; y: number }>
}
