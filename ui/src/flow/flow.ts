import { Position, type Node } from '@xyflow/react'
import { useEffect, useState } from 'react'
import type { LayoutRequest, LayoutResult } from './layout-types'

let requests = 0

/**
 * Positions from dagre in a web worker, asked again only when `req` changes
 * (memoize it on the graph's shape). `undefined` until the worker answers, or
 * when there is nothing to lay out.
 */
export function useLayout(req: Omit<LayoutRequest, 'id'> | undefined): LayoutResult['positions'] | undefined {
  const [positions, setPositions] = useState<LayoutResult['positions']>()
  useEffect(() => {
    if (req === undefined) return
    const worker = new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' })
    const id = ++requests
    worker.onmessage = (e: MessageEvent<LayoutResult>) => {
      if (e.data.id === id) setPositions(e.data.positions)
      worker.terminate()
    }
    worker.postMessage({ ...req, id } satisfies LayoutRequest)
    return () => worker.terminate()
  }, [req])
  return positions
}

/**
 * A left-to-right node's size and handles given up front: xyflow draws the
 * edges from these at once, instead of waiting until it has measured the nodes
 * in the DOM (which a busy or hidden page may put off for a long time).
 */
export function box(
  width: number,
  height: number,
): Pick<Node, 'width' | 'height' | 'handles' | 'style' | 'sourcePosition' | 'targetPosition'> {
  return {
    width,
    height,
    style: { width, height },
    sourcePosition: Position.Right,
    targetPosition: Position.Left,
    handles: [
      { type: 'target', position: Position.Left, x: 0, y: height / 2, width: 1, height: 1 },
      { type: 'source', position: Position.Right, x: width - 1, y: height / 2, width: 1, height: 1 },
    ],
  }
}
