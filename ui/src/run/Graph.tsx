import { Background, Controls, MarkerType, ReactFlow, type Edge, type Node } from '@xyflow/react'
import { useMemo, useRef } from 'react'
import { box, useLayout } from '../flow/flow'
import type { LayoutRequest } from '../flow/layout-types'
import { STATE_ORDER } from './figures'
import type { RunModel } from './model'

/** Above this many tasks the graph shows one node per layer (tasks at the same depth) with counts by state. */
export const COLLAPSE_ABOVE = 300

const NODE_W = 150
const NODE_H = 40
const LAYER_W = 190
const LAYER_H = 64

/**
 * The run's DAG with xyflow, laid out by dagre in a web worker: one node per
 * task coloured by state (the critical path outlined), or one node per layer
 * when the run has more than {@link COLLAPSE_ABOVE} tasks.
 */
export function RunGraph({
  model,
  version,
  critical,
  onSelect,
}: {
  model: RunModel
  version: number
  critical: Set<string>
  onSelect: (taskId: string) => void
}) {
  const collapsed = model.order.length > COLLAPSE_ABOVE
  const structure = useMemo((): Omit<LayoutRequest, 'id'> => {
    if (!collapsed)
      return {
        direction: 'LR',
        nodes: model.order.map((t) => ({ id: t.id, width: NODE_W, height: NODE_H })),
        edges: model.order.flatMap((t) => (t.graph?.dependsOn ?? []).map((d): [string, string] => [d, t.id])),
      }
    const depths = [...model.layers.keys()].sort((a, b) => a - b)
    return {
      direction: 'LR',
      nodes: depths.map((d) => ({ id: `layer-${d}`, width: LAYER_W, height: LAYER_H })),
      edges: depths.slice(1).map((d, i): [string, string] => [`layer-${depths[i]}`, `layer-${d}`]),
    }
  }, [model, collapsed])
  // The layered view is a row of layers: placed here at once. A task graph goes to dagre in the worker.
  const laidOut = useLayout(collapsed ? undefined : structure)
  const layered = useMemo(
    () =>
      collapsed
        ? Object.fromEntries(structure.nodes.map((n, i) => [n.id, { x: i * (LAYER_W + 48), y: (i % 2) * 24 }]))
        : undefined,
    [collapsed, structure],
  )
  const positions = layered ?? laidOut

  const criticalRef = useRef(critical)
  criticalRef.current = critical
  // What the nodes show: they are rebuilt (and xyflow updates) only when it changed, not at every event.
  // Layers: the model counts their tasks by state as the events come and bumps stateVersion.
  const taskKey = useMemo(() => {
    if (collapsed) return ''
    return model.order
      .map((t) => `${t.state}${criticalRef.current.has(t.id) ? '*' : ''}${t.id === model.breakAt?.taskId ? '!' : ''}`)
      .join()
    // version: the model is mutated in place; critical: a new set at every version, its effect is in the key
  }, [model, version, collapsed])
  const shown = collapsed ? model.stateVersion : taskKey
  const { nodes, edges } = useMemo(() => {
    if (positions === undefined) return { nodes: [] as Node[], edges: [] as Edge[] }
    if (collapsed) {
      const nodes: Node[] = [...model.layers].map(([d, counts]) => {
        const total = Object.values(counts).reduce((a, b) => a + b, 0)
        return {
          id: `layer-${d}`,
          position: positions[`layer-${d}`] ?? { x: 0, y: 0 },
          data: {
            label: (
              <div
                className="layer"
                title={STATE_ORDER.filter((s) => counts[s])
                  .map((s) => `${s} ${counts[s]}`)
                  .join(', ')}
              >
                <b>layer {d}</b> · {total} tasks
                <div className="stack">
                  {STATE_ORDER.filter((s) => counts[s]).map((s) => (
                    <span key={s} className={`st-${s}`} style={{ flexGrow: counts[s] }} />
                  ))}
                </div>
              </div>
            ),
          },
          className: 'flow-layer',
          ...box(LAYER_W, LAYER_H),
          draggable: false,
          connectable: false,
        }
      })
      return {
        nodes,
        edges: structure.edges.map(([s, t]) => ({
          id: `${s}>${t}`,
          source: s,
          target: t,
          markerEnd: { type: MarkerType.ArrowClosed },
        })),
      }
    }
    const stopped = model.breakAt?.taskId
    const nodes: Node[] = model.order.map((t) => ({
      id: t.id,
      position: positions[t.id] ?? { x: 0, y: 0 },
      data: { label: t.id },
      className: `flow-task st-${t.state}${criticalRef.current.has(t.id) ? ' critical' : ''}${t.id === stopped ? ' break' : ''}`,
      ...box(NODE_W, NODE_H),
      draggable: false,
      connectable: false,
      ariaLabel: `task ${t.id}: ${t.state}`,
    }))
    const edges: Edge[] = structure.edges.map(([s, t]) => {
      const onPath = criticalRef.current.has(s) && criticalRef.current.has(t)
      return {
        id: `${s}>${t}`,
        source: s,
        target: t,
        className: onPath ? 'critical' : '',
        animated: model.tasks.get(t)?.state === 'RUNNING',
        markerEnd: { type: MarkerType.ArrowClosed },
      }
    })
    return { nodes, edges }
    // shown: what the nodes show changed (the model is mutated in place)
  }, [positions, collapsed, model, shown, structure])

  return (
    <div className="graph" data-testid="dag" data-collapsed={collapsed} aria-label="Task graph">
      {positions === undefined ? (
        <p className="hint">Laying the graph out…</p>
      ) : (
        <ReactFlow
          nodes={nodes}
          edges={edges}
          fitView
          fitViewOptions={{ maxZoom: 1.2 }}
          minZoom={0.05}
          nodesDraggable={false}
          nodesConnectable={false}
          onNodeClick={(_, n) => {
            if (!collapsed) onSelect(n.id)
          }}
          proOptions={{ hideAttribution: true }}
          onlyRenderVisibleElements={model.order.length > 100}
        >
          <Background />
          <Controls showInteractive={false} />
        </ReactFlow>
      )}
      {collapsed && (
        <p className="hint">
          {model.order.length} tasks: shown by layer (tasks at the same depth). The task list below has every task.
        </p>
      )}
    </div>
  )
}
