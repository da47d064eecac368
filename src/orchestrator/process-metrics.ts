import type { Bus } from '../messaging/bus.js'
import type { Registry } from '../registry/registry.js'
import type { CircuitState } from '../resilience/circuit-breaker.js'
import type { Store } from '../store/store.js'
import { timedStore } from '../store/timed-store.js'
import type { Meter, ObservableResult } from '../telemetry/telemetry.js'

/** Where the queue depth of an orchestrator or a worker comes from. */
export interface QueueDepth {
  /** The `worker` label: a worker's id, or `orchestrator`. */
  readonly worker: string
  /** Ready attempts not started yet (see docs/observability.md for each). */
  readonly depth: () => number
}

/** What an orchestrator or a worker reads its gauges from. */
interface GaugeSources {
  readonly registry: Registry
  readonly bus: Bus
  /** No queue-depth gauge without it. */
  readonly queue: QueueDepth | undefined
}

/** Circuit states as labels, worst last. */
const STATES: readonly (readonly [CircuitState, string])[] = [
  ['CLOSED', 'closed'],
  ['HALF_OPEN', 'half_open'],
  ['OPEN', 'open'],
]
const RANK: Readonly<Record<CircuitState, number>> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 }

/**
 * The gauges read at each collection (a Prometheus scrape), so they cost
 * nothing between two: `flotilla.worker.queue.depth` (`worker`),
 * `flotilla.circuit.state` (`agent` as `name@version`, `state`: 1 for the
 * worst state among the agent's instances, 0 for the two others) and
 * `flotilla.bus.dead_letters` (`agent`: the dead letters waiting in the
 * mailbox of each registered agent that has some). Nothing without a meter
 * that reads gauges. Returns what removes the callbacks (on close).
 */
export function attachGauges(meter: Meter | undefined, sources: GaugeSources): () => void {
  if (meter?.createObservableGauge === undefined) return () => undefined
  const depth = meter.createObservableGauge('flotilla.worker.queue.depth', {
    description: 'Ready attempts not started yet, by worker',
    unit: '{attempt}',
  })
  const circuit = meter.createObservableGauge('flotilla.circuit.state', {
    description: 'Circuit breaker state of each agent (the worst of its instances): 1 for the current state',
  })
  const dead = meter.createObservableGauge('flotilla.bus.dead_letters', {
    description: 'Dead letters waiting in the mailbox of each agent that has some',
    unit: '{message}',
  })
  const queue = sources.queue
  const worker = { worker: queue?.worker }
  const readDepth = (r: ObservableResult) => {
    if (queue !== undefined) r.observe(queue.depth(), worker)
  }
  const readCircuits = (r: ObservableResult) => {
    const worst = new Map<string, CircuitState>()
    for (const instance of sources.registry.instances()) {
      const agent = `${instance.definition.name}@${instance.definition.version}`
      const state = instance.breaker.state
      const before = worst.get(agent)
      if (before === undefined || RANK[state] > RANK[before]) worst.set(agent, state)
    }
    for (const [agent, state] of worst)
      for (const [s, label] of STATES) r.observe(state === s ? 1 : 0, { agent, state: label })
  }
  const readDeadLetters = async (r: ObservableResult) => {
    // One read per registered agent name, all at once; a bus that fails to answer reports none this time
    const names = [...new Set(sources.registry.definitions().map((d) => d.name))]
    const counts = await Promise.all(
      names.map((name) =>
        sources.bus.deadLetters(name).then(
          (d) => d.length,
          () => 0,
        ),
      ),
    )
    names.forEach((agent, i) => {
      if (counts[i]! > 0) r.observe(counts[i]!, { agent })
    })
  }
  depth.addCallback(readDepth)
  circuit.addCallback(readCircuits)
  dead.addCallback(readDeadLetters)
  return () => {
    depth.removeCallback(readDepth)
    circuit.removeCallback(readCircuits)
    dead.removeCallback(readDeadLetters)
  }
}

/**
 * `store` with its commits timed on `flotilla.store.commit.duration`
 * (`store`: its kind, `path`: `runs`), or `store` itself without a meter.
 */
export function timeCommits(meter: Meter | undefined, store: Store): Store {
  if (meter === undefined) return store
  const histogram = meter.createHistogram('flotilla.store.commit.duration', {
    description: 'How long a commit (a batch of state changes in one transaction) took in the store',
    unit: 'ms',
  })
  return timedStore(store, histogram, { store: store.kind, path: 'runs' })
}
