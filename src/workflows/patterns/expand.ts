import type { TaskSpec } from '../spec.js'
import type { ConsensusSpec, MapReduceSpec, PatternSpec, PipelineSpec } from './pattern-spec.js'

/** Names of the built-in agents patterns compile to (registered by every Orchestrator). */
export const BUILTIN = {
  collect: 'flotilla.collect',
  compact: 'flotilla.compact',
  consensus: 'flotilla.consensus',
  items: 'flotilla.items',
} as const

/** Default bound of a map over a list known only at run time. */
export const DEFAULT_MAX_ITEMS = 1000

const out = (id: string): { $ref: string } => ({ $ref: `tasks.${id}.output` })

/** True for a `tasks` entry that is a pattern (it has a `pattern` field). */
export function isPattern(entry: TaskSpec | PatternSpec): entry is PatternSpec {
  return typeof (entry as { pattern?: unknown }).pattern === 'string'
}

/**
 * Compiles the pattern entries of a workflow into plain tasks (so they get
 * retries, timeouts, durability and progress like any task). A pattern `X`
 * becomes tasks named `X__…` and a last task `X` whose output is the
 * pattern's result, so later tasks reference `tasks.X.output`.
 */
export function expandPatterns(entries: readonly (TaskSpec | PatternSpec)[]): TaskSpec[] {
  const tasks: TaskSpec[] = []
  for (const e of entries) {
    if (!isPattern(e)) tasks.push(e)
    else if (e.pattern === 'pipeline') tasks.push(...pipeline(e))
    else if (e.pattern === 'map-reduce') tasks.push(...mapReduce(e))
    else tasks.push(...consensus(e))
  }
  return tasks
}

function common(p: PatternSpec): Partial<TaskSpec> {
  const c: Partial<TaskSpec> = {}
  if (p.dependsOn !== undefined) c.dependsOn = [...p.dependsOn]
  if (p.priority !== undefined) c.priority = p.priority
  return c
}

function step(s: { retry?: TaskSpec['retry']; timeoutMs?: number }): Partial<TaskSpec> {
  const c: Partial<TaskSpec> = {}
  if (s.retry !== undefined) c.retry = s.retry
  if (s.timeoutMs !== undefined) c.timeoutMs = s.timeoutMs
  return c
}

function pipeline(p: PipelineSpec): TaskSpec[] {
  const tasks: TaskSpec[] = []
  const carryOn = p.onError === 'continue'
  const stages: Record<string, { $ref: string }> = {}
  let previous: unknown = p.input
  for (const stage of p.stages) {
    const id = `${p.id}__${stage.id}`
    if ('parallel' in stage) {
      const branches: Record<string, { $ref: string }> = {}
      for (const b of stage.parallel) {
        const bid = `${id}__${b.id}`
        tasks.push({
          id: bid,
          agent: b.agent,
          input: previous,
          ...common(p),
          ...step(b),
          ...(carryOn ? { continueOnFailure: true } : {}),
        })
        branches[b.id] = out(bid)
      }
      tasks.push({ id, agent: BUILTIN.collect, input: branches, ...common(p) })
    } else {
      tasks.push({
        id,
        agent: stage.agent,
        input: stage.input ?? previous,
        ...common(p),
        ...step(stage),
        ...(carryOn ? { continueOnFailure: true } : {}),
      })
    }
    stages[stage.id] = out(id)
    previous = out(id)
  }
  tasks.push({
    id: p.id,
    agent: BUILTIN.collect,
    input: p.keepIntermediate ? { output: previous, stages } : previous,
    ...common(p),
    ...(p.description ? { description: p.description } : {}),
  })
  return tasks
}

function mapReduce(p: MapReduceSpec): TaskSpec[] {
  const skip = p.onItemFailure === 'skip'
  const item = (i: number, input: unknown, extra: Partial<TaskSpec> = {}): TaskSpec => ({
    id: `${p.id}__map_${i}`,
    agent: p.map.agent,
    input,
    ...common(p),
    ...step(p.map),
    ...(skip ? { continueOnFailure: true } : {}),
    ...(p.concurrency !== undefined ? { group: { name: `${p.id}__map`, max: p.concurrency } } : {}),
    ...extra,
  })
  const tasks: TaskSpec[] = []
  let maps: TaskSpec[]
  if (Array.isArray(p.items)) {
    maps = p.items.map((it, i) => item(i, it))
  } else {
    // A list known only at run time: a checked copy of it, then one slot per
    // possible item; the slots past the list's end are skipped.
    const list = `${p.id}__items`
    const max = p.maxItems ?? DEFAULT_MAX_ITEMS
    tasks.push({
      id: list,
      agent: BUILTIN.items,
      input: { pattern: p.id, items: p.items, maxItems: max },
      ...common(p),
    })
    maps = Array.from({ length: max }, (_, i) =>
      item(i, { $ref: `tasks.${list}.output.${i}` }, { when: `tasks.${list}.output.length > ${i}` }),
    )
  }
  tasks.push(...maps)
  const outputs = maps.map((m) => out(m.id))
  let items: unknown = outputs
  if (skip || !Array.isArray(p.items)) {
    tasks.push({ id: `${p.id}__results`, agent: BUILTIN.compact, input: { items: outputs }, ...common(p) })
    items = out(`${p.id}__results`)
  }
  tasks.push({
    id: p.id,
    agent: p.reduce.agent,
    input: { items },
    ...common(p),
    ...step(p.reduce),
    ...(p.description ? { description: p.description } : {}),
  })
  return tasks
}

function consensus(p: ConsensusSpec): TaskSpec[] {
  const voters: TaskSpec[] = p.agents.map((agent, i) => ({
    id: `${p.id}__vote_${i}`,
    agent,
    input: p.input,
    ...common(p),
    ...step(p),
    continueOnFailure: true,
  }))
  const options: Record<string, unknown> = {}
  for (const k of ['strategy', 'weights', 'useConfidence', 'quorum', 'tie'] as const)
    if (p[k] !== undefined) options[k] = p[k]
  return [
    ...voters,
    {
      id: p.id,
      agent: p.tally ?? BUILTIN.consensus,
      input: { ballots: voters.map((v) => ({ agent: v.agent!, output: out(v.id) })), options },
      ...common(p),
      ...(p.description ? { description: p.description } : {}),
    },
  ]
}
