import { createHash } from 'node:crypto'
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import { checkRange } from '../registry/semver-range.js'
import type { Priority } from '../core/states.js'
import { resolveRetryPolicy, type RetryPolicy } from '../resilience/retry.js'
import { parseCondition, type Condition } from './condition.js'
import { collectRefs, compileTemplate, type Resolver } from './refs.js'
import { expandPatterns } from './patterns/expand.js'
import { workflowSpecSchema, type TaskSpec, type WorkflowSpec } from './spec.js'

const PRIORITY_RANK: Record<Priority, number> = { CRITICAL: 0, HIGH: 1, MEDIUM: 2, LOW: 3 }

/** A task after validation, with everything the scheduler needs precomputed. */
export interface CompiledTask {
  readonly index: number
  readonly id: string
  readonly spec: Readonly<TaskSpec>
  /** `agent:<name>[@version]` or `capability:<name>`. */
  readonly selector: { agent: string; version?: string } | { capability: string }
  readonly fallback: string | undefined
  readonly priority: Priority
  /** Indices of the tasks this one waits for. */
  readonly deps: Int32Array
  /** Indices of the tasks waiting for this one. */
  readonly dependents: Int32Array
  readonly resolveInput: Resolver
  readonly condition: Condition | undefined
  readonly retry: RetryPolicy
  readonly timeoutMs: number | undefined
  readonly continueOnFailure: boolean
  /** Run-scoped concurrency group, if any. */
  readonly group: { readonly name: string; readonly max: number } | undefined
  /** Tasks on the longest path from this task to the end, itself included. */
  readonly criticalPathLength: number
  /** Heap key: priority first, then longer critical path first. */
  readonly rank: number
}

/**
 * A validated workflow, ready to run any number of times. Make one with
 * {@link compileWorkflow}, the builder (`workflow(...)`), or `parseWorkflow`.
 */
export interface Workflow {
  readonly name: string
  /** SHA-256 of the canonical JSON of the spec: runs pin it. */
  readonly hash: string
  /** The JSON-safe definition. */
  readonly spec: Readonly<WorkflowSpec>
  readonly tasks: readonly CompiledTask[]
  /** Index of each task id. */
  readonly indexOf: ReadonlyMap<string, number>
  /** In-degree of every task (copied for each run). */
  readonly inDegree: Int32Array
  /** Indices of the tasks with no dependencies. */
  readonly roots: Int32Array
  /** Task indices in a topological order. */
  readonly order: Int32Array
  /** Most tasks of one run executing at once (Infinity: no limit). */
  readonly concurrency: number
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`
}

/** Formats zod issues as one readable line each, naming the path. */
export function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[], spec?: unknown): string {
  return issues
    .slice(0, 5)
    .map((i) => {
      let where = ''
      let cur: unknown = spec
      for (const p of i.path) {
        if (typeof p === 'number' && Array.isArray(cur)) {
          const item = cur[p] as { id?: unknown } | undefined
          where += item && typeof item.id === 'string' ? `[${p} "${item.id}"]` : `[${p}]`
        } else where += where ? `.${String(p)}` : String(p)
        cur = cur !== null && typeof cur === 'object' ? (cur as Record<PropertyKey, unknown>)[p] : undefined
      }
      return `${where || '(root)'}: ${i.message}`
    })
    .join('; ')
}

/**
 * Validates a workflow definition and compiles it. Errors name the problem
 * and where: `WORKFLOW_INVALID` (schema), `WORKFLOW_DUPLICATE_TASK`,
 * `WORKFLOW_UNKNOWN_DEPENDENCY`, `WORKFLOW_BAD_REFERENCE`, `WORKFLOW_CYCLE`
 * (with the cycle's path).
 *
 * @example
 * ```ts
 * const wf = compileWorkflow({ name: 'hello', tasks: [{ id: 'greet', agent: 'greeter', input: { name: 'Ada' } }] })
 * ```
 */
export function compileWorkflow(input: WorkflowSpec): Workflow {
  const parsed = workflowSpecSchema.safeParse(input)
  if (!parsed.success) {
    throw new FlotillaError('WORKFLOW_INVALID', `Workflow ${describeName(input)} is invalid: ${formatIssues(parsed.error.issues, input)}.`, {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) },
    })
  }
  const spec = deepFreeze(structuredClone(input))
  const entries = expandPatterns(spec.tasks)
  const name = spec.name
  const n = entries.length
  const indexOf = new Map<string, number>()
  entries.forEach((t, i) => {
    if (indexOf.has(t.id)) {
      throw new FlotillaError('WORKFLOW_DUPLICATE_TASK', `Workflow "${name}": task id "${t.id}" is used by tasks #${indexOf.get(t.id)! + 1} and #${i + 1}; give each task its own id.`, {
        details: { workflow: name, taskId: t.id },
      })
    }
    indexOf.set(t.id, i)
  })
  const lookup = (id: string, where: string): number => {
    const i = indexOf.get(id)
    if (i === undefined) {
      throw new FlotillaError('WORKFLOW_UNKNOWN_DEPENDENCY', `Workflow "${name}": ${where} names task "${id}", which does not exist. Known tasks: ${[...indexOf.keys()].slice(0, 20).join(', ')}.`, {
        details: { workflow: name, where, taskId: id },
      })
    }
    return i
  }

  // Dependencies: explicit ones plus every task referenced by the input or condition.
  const depSets: number[][] = []
  const conditions: { refs: unknown; compile: (f: (id: string) => number) => Condition }[] = []
  entries.forEach((t, i) => {
    const where = `task "${t.id}"`
    if (t.version !== undefined) {
      try {
        checkRange(t.version)
      } catch (e) {
        throw new FlotillaError('WORKFLOW_INVALID', `Workflow "${name}", ${where}: ${toFlotillaError(e).message}`, { details: { workflow: name, taskId: t.id, version: t.version } })
      }
    }
    const set = new Set<number>()
    for (const d of t.dependsOn ?? []) set.add(lookup(d, `${where} dependsOn`))
    for (const r of collectRefs(t.input, `${where} input`)) if (r.source === 'task') set.add(lookup(r.taskId!, `${where} input`))
    if (t.when !== undefined) {
      const c = parseCondition(t.when, `${where} when`)
      for (const r of c.refs) if (r.source === 'task') set.add(lookup(r.taskId!, `${where} when`))
      conditions[i] = c
    }
    if (set.has(i)) throw cycleError(name, [t.id, t.id])
    depSets.push([...set])
  })

  // Kahn's algorithm: topological order, or the cycle.
  const inDegree = new Int32Array(n)
  const dependents: number[][] = Array.from({ length: n }, () => [])
  depSets.forEach((deps, i) => {
    inDegree[i] = deps.length
    for (const d of deps) dependents[d].push(i)
  })
  const order: number[] = []
  const deg = inDegree.slice()
  for (let i = 0; i < n; i++) if (deg[i] === 0) order.push(i)
  for (let h = 0; h < order.length; h++) for (const j of dependents[order[h]]) if (--deg[j] === 0) order.push(j)
  if (order.length < n) throw cycleError(name, findCycle(depSets, deg).map((i) => entries[i].id))

  const cpl = new Int32Array(n)
  for (let h = n - 1; h >= 0; h--) {
    const i = order[h]
    let best = 0
    for (const j of dependents[i]) if (cpl[j] > best) best = cpl[j]
    cpl[i] = best + 1
  }

  const defaults = spec.defaults ?? {}
  const idx = (id: string): number => indexOf.get(id)!
  const tasks: CompiledTask[] = entries.map((t, i) => {
    const priority = t.priority ?? defaults.priority ?? 'MEDIUM'
    return Object.freeze({
      index: i,
      id: t.id,
      spec: t,
      selector: t.agent !== undefined ? (t.version !== undefined ? { agent: t.agent, version: t.version } : { agent: t.agent }) : { capability: t.capability! },
      fallback: t.fallback,
      priority,
      deps: Int32Array.from(depSets[i]),
      dependents: Int32Array.from(dependents[i]),
      resolveInput: compileTemplate(t.input, `task "${t.id}" input`, idx),
      condition: conditions[i]?.compile(idx),
      retry: resolveRetryPolicy(t.retry ?? defaults.retry),
      timeoutMs: t.timeoutMs ?? defaults.timeoutMs,
      continueOnFailure: t.continueOnFailure ?? false,
      group: t.group,
      criticalPathLength: cpl[i],
      rank: PRIORITY_RANK[priority] * 2 ** 31 - cpl[i],
    })
  })
  const roots: number[] = []
  for (let i = 0; i < n; i++) if (inDegree[i] === 0) roots.push(i)
  return Object.freeze({
    name,
    hash: createHash('sha256').update(canonicalJson(spec)).digest('hex'),
    spec,
    tasks,
    indexOf,
    inDegree,
    roots: Int32Array.from(roots),
    order: Int32Array.from(order),
    concurrency: spec.concurrency ?? Infinity,
  })
}

function describeName(input: unknown): string {
  const n = (input as { name?: unknown } | null)?.name
  return typeof n === 'string' ? `"${n}"` : '(unnamed)'
}

function cycleError(workflow: string, path: string[]): FlotillaError {
  return new FlotillaError('WORKFLOW_CYCLE', `Workflow "${workflow}" has a dependency cycle: ${path.join(' → ')} (each task waits for the next). Remove one of these dependencies.`, {
    details: { workflow, cycle: path },
  })
}

/**
 * A cycle among the nodes Kahn's algorithm could not order (deg > 0). Each
 * such node waits for at least one other such node, so walking those waits
 * must revisit a node: the walk from its first visit is the cycle.
 */
function findCycle(depSets: number[][], deg: Int32Array): number[] {
  let i = deg.findIndex((d) => d > 0)
  const seenAt = new Map<number, number>()
  const walk: number[] = []
  while (!seenAt.has(i)) {
    seenAt.set(i, walk.length)
    walk.push(i)
    i = depSets[i].find((d) => deg[d] > 0)!
  }
  return [...walk.slice(seenAt.get(i)), i]
}

function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      Object.freeze(v)
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k])
    }
  }
  return value
}
