/**
 * Compiling a workflow definition: schema validation, pattern expansion,
 * dependencies (explicit and by reference), topological order and critical
 * paths, precomputed per task for the scheduler; and
 * {@link validateWorkflowSpec}, which lists every problem where compiling
 * throws the first. The graph algorithms are in `graph-order.ts`, the
 * errors both report in `spec-errors.ts`, hashing and freezing in
 * `spec-hash.ts`.
 *
 * @module
 */
import { FlotillaError, isFlotillaError, toFlotillaError, type ErrorCode } from '../core/errors.js'
import type { Priority } from '../core/states.js'
import { resolveRetryPolicy, type RetryPolicy } from '../resilience/retry.js'
import { parseCondition, type Condition } from './condition.js'
import { collectRefs, compileTemplate, visitRefs, type Resolver } from './refs.js'
import { expandPatterns, isPattern } from './patterns/expand.js'
import { formatIssues, issueMessage, issuePath, workflowSpecSchema, type TaskSpec, type WorkflowSpec } from './spec.js'
import { patternSpecSchema, type PatternSpec } from './patterns/pattern-spec.js'
import { deepFreeze, specHash } from './spec-hash.js'
import { allCycles, criticalPathLengths, findCycle, topologicalOrder } from './graph-order.js'
import {
  anyWithoutUpstream,
  cycleError,
  describeName,
  duplicateError,
  unknownTaskError,
  versionError,
} from './spec-errors.js'

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
  /** `dependencies: any`: the task may start once one upstream task succeeded (see {@link TaskSpec.dependencies}). */
  readonly anyOf: boolean
  /** Run-scoped concurrency group, if any. */
  readonly group: { readonly name: string; readonly max: number } | undefined
  /** Tasks on the longest path from this task to the end, itself included. */
  readonly criticalPathLength: number
  /** Heap key: priority first, then longer critical path first. */
  readonly rank: number
}

declare const OUTPUTS: unique symbol

/**
 * A validated workflow, ready to run any number of times. Make one with
 * {@link compileWorkflow}, the builder (`workflow(...)`), or `parseWorkflow`.
 */
export interface Workflow<Outputs extends Record<string, unknown> = Record<string, unknown>> {
  /** Type only, never set: the output type of each task, by id (from the builder), which types `RunResult.output`. */
  readonly [OUTPUTS]?: Outputs
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
  /** Indices of the tasks whose outputs are the run's answer: the spec's `outputs`, else the tasks nothing depends on. */
  readonly finals: Int32Array
}

export { formatIssues }

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
export function compileWorkflow<Outputs extends Record<string, unknown> = Record<string, unknown>>(
  input: WorkflowSpec,
): Workflow<Outputs> {
  try {
    return compileChecked(input) as Workflow<Outputs>
  } catch (e) {
    throw withProblems(e, input)
  }
}

/** A `WORKFLOW_*` error of {@link compileWorkflow} with every problem of the definition in `details.problems`. */
function withProblems(e: unknown, input: unknown): unknown {
  if (!isFlotillaError(e) || !e.code.startsWith('WORKFLOW_')) return e
  let problems: WorkflowProblem[]
  try {
    problems = validateWorkflowSpec(input)
  } catch {
    return e
  }
  return new FlotillaError(e.code, e.message, { details: { ...e.details, problems }, cause: e.cause })
}

function compileChecked(input: WorkflowSpec): Workflow {
  const parsed = workflowSpecSchema.safeParse(input)
  if (!parsed.success) {
    throw new FlotillaError(
      'WORKFLOW_INVALID',
      `Workflow ${describeName(input)} is invalid: ${formatIssues(parsed.error.issues, input)}.`,
      {
        details: {
          issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
        },
      },
    )
  }
  const spec = deepFreeze(structuredClone(input))
  const entries = expandPatterns(spec.tasks)
  const name = spec.name
  const n = entries.length
  const indexOf = new Map<string, number>()
  entries.forEach((t, i) => {
    if (indexOf.has(t.id)) throw duplicateError(name, t.id, indexOf.get(t.id)!, i)
    indexOf.set(t.id, i)
  })
  const lookup = (id: string, where: string): number => {
    const i = indexOf.get(id)
    if (i === undefined) throw unknownTaskError(name, where, id, indexOf.keys())
    return i
  }

  for (const id of spec.outputs ?? []) lookup(id, 'outputs')

  // Dependencies: explicit ones plus every task referenced by the input or condition.
  const depSets: number[][] = []
  const conditions: { refs: unknown; compile: (f: (id: string) => number) => Condition }[] = []
  entries.forEach((t, i) => {
    const where = `task "${t.id}"`
    if (t.version !== undefined) {
      const bad = versionError(name, t.id, t.version)
      if (bad) throw bad
    }
    const set = new Set<number>()
    for (const d of t.dependsOn ?? []) set.add(lookup(d, `${where} dependsOn`))
    for (const r of collectRefs(t.input, `${where} input`))
      if (r.source === 'task') set.add(lookup(r.taskId!, `${where} input`))
    if (t.when !== undefined) {
      const c = parseCondition(t.when, `${where} when`)
      for (const r of c.refs) if (r.source === 'task') set.add(lookup(r.taskId!, `${where} when`))
      conditions[i] = c
    }
    if (set.has(i)) throw cycleError(name, [t.id, t.id])
    if (t.dependencies === 'any' && set.size === 0) throw anyWithoutUpstream(name, t.id)
    depSets.push([...set])
  })

  const { inDegree, dependents, order, deg } = topologicalOrder(depSets)
  if (order.length < n)
    throw cycleError(
      name,
      findCycle(depSets, deg).map((i) => entries[i].id),
    )
  const cpl = criticalPathLengths(order, dependents)

  const defaults = spec.defaults ?? {}
  const idx = (id: string): number => indexOf.get(id)!
  const tasks: CompiledTask[] = entries.map((t, i) => {
    const priority = t.priority ?? defaults.priority ?? 'MEDIUM'
    return Object.freeze({
      index: i,
      id: t.id,
      spec: t,
      selector:
        t.agent !== undefined
          ? t.version !== undefined
            ? { agent: t.agent, version: t.version }
            : { agent: t.agent }
          : { capability: t.capability! },
      fallback: t.fallback,
      priority,
      deps: Int32Array.from(depSets[i]),
      dependents: Int32Array.from(dependents[i]),
      resolveInput: compileTemplate(t.input, `task "${t.id}" input`, idx),
      condition: conditions[i]?.compile(idx),
      retry: resolveRetryPolicy(t.retry ?? defaults.retry),
      timeoutMs: t.timeoutMs ?? defaults.timeoutMs,
      continueOnFailure: t.continueOnFailure ?? false,
      anyOf: t.dependencies === 'any',
      group: t.group,
      criticalPathLength: cpl[i],
      rank: PRIORITY_RANK[priority] * 2 ** 31 - cpl[i],
    })
  })
  const roots: number[] = []
  for (let i = 0; i < n; i++) if (inDegree[i] === 0) roots.push(i)
  return Object.freeze({
    name,
    hash: specHash(spec),
    spec,
    tasks,
    indexOf,
    inDegree,
    roots: Int32Array.from(roots),
    order: Int32Array.from(order),
    concurrency: spec.concurrency ?? Infinity,
    finals: Int32Array.from(
      spec.outputs !== undefined
        ? spec.outputs.map(idx)
        : tasks.filter((t) => t.dependents.length === 0).map((t) => t.index),
    ),
  })
}

/** One problem found in a workflow definition by {@link validateWorkflowSpec}. */
export interface WorkflowProblem {
  /** The code {@link compileWorkflow} throws for it. */
  code: ErrorCode
  /** Where: `tasks[1 "b"].dependsOn` for a schema problem, `task "b" input.x` for a reference. */
  where: string
  /** What is wrong and what to do, as {@link compileWorkflow} would say it. */
  message: string
}

/**
 * Checks a workflow definition and returns every problem found, where
 * {@link compileWorkflow} throws the first: schema errors (with "did you
 * mean" hints for near-miss keys), duplicate ids, unknown dependencies and
 * references, malformed references and conditions, bad version ranges, and
 * each dependency cycle. Empty when the definition compiles. Checks go on
 * past schema errors as far as the definition allows.
 *
 * @example
 * ```ts
 * for (const p of validateWorkflowSpec(spec)) console.error(`[${p.code}] ${p.message}`)
 * ```
 */
export function validateWorkflowSpec(input: unknown): WorkflowProblem[] {
  const problems: WorkflowProblem[] = []
  const add = (e: FlotillaError, where: string): void => void problems.push({ code: e.code, where, message: e.message })
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    add(new FlotillaError('WORKFLOW_INVALID', 'A workflow is a mapping with "name" and "tasks".'), '(root)')
    return problems
  }
  const label = describeName(input)
  const parsed = workflowSpecSchema.safeParse(input)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const where = issuePath(issue.path, input)
      add(
        new FlotillaError('WORKFLOW_INVALID', `Workflow ${label} is invalid: ${where}: ${issueMessage(issue)}.`),
        where,
      )
    }
  }
  const raw = (input as { tasks?: unknown }).tasks
  if (!Array.isArray(raw)) return problems
  const name = label.startsWith('"') ? label.slice(1, -1) : label
  // Tasks as far as they can be read; ids of unreadable patterns still count as known.
  const entries: TaskSpec[] = []
  const opaque = new Set<string>()
  for (const e of raw as unknown[]) {
    if (e === null || typeof e !== 'object') continue
    const id = (e as { id?: unknown }).id
    if (isPattern(e as TaskSpec | PatternSpec)) {
      if (patternSpecSchema.safeParse(e).success) entries.push(...expandPatterns([e as PatternSpec]))
      else if (typeof id === 'string') opaque.add(id)
    } else if (typeof id === 'string') entries.push(e as TaskSpec)
  }
  const indexOf = new Map<string, number>()
  const firstAt = new Map<string, number>()
  const tasks: TaskSpec[] = []
  entries.forEach((t, k) => {
    if (firstAt.has(t.id)) return add(duplicateError(name, t.id, firstAt.get(t.id)!, k), `task "${t.id}"`)
    firstAt.set(t.id, k)
    indexOf.set(t.id, tasks.length)
    tasks.push(t)
  })
  const depSets: number[][] = tasks.map(() => [])
  tasks.forEach((t, i) => {
    const where = `task "${t.id}"`
    const set = new Set<number>()
    const need = (id: string, at: string): void => {
      const j = indexOf.get(id)
      if (j !== undefined) set.add(j)
      else if (!opaque.has(id)) add(unknownTaskError(name, at, id, [...indexOf.keys(), ...opaque]), at)
    }
    if (typeof t.version === 'string') {
      const bad = versionError(name, t.id, t.version)
      if (bad) add(bad, `${where} version`)
    }
    if (Array.isArray(t.dependsOn))
      for (const d of t.dependsOn) if (typeof d === 'string') need(d, `${where} dependsOn`)
    visitRefs(
      t.input,
      `${where} input`,
      (r) => r.source === 'task' && need(r.taskId!, `${where} input`),
      (e) => add(e, `${where} input`),
    )
    if (typeof t.when === 'string' && t.when.length > 0) {
      try {
        for (const r of parseCondition(t.when, `${where} when`).refs)
          if (r.source === 'task') need(r.taskId!, `${where} when`)
      } catch (e) {
        add(toFlotillaError(e), `${where} when`)
      }
    }
    if (set.delete(i)) add(cycleError(name, [t.id, t.id]), where)
    if (t.dependencies === 'any' && set.size === 0 && !(Array.isArray(t.dependsOn) && t.dependsOn.length > 0))
      add(anyWithoutUpstream(name, t.id), `${where} dependencies`)
    depSets[i] = [...set]
  })
  const outputs = (input as { outputs?: unknown }).outputs
  for (const id of Array.isArray(outputs) ? (outputs as unknown[]) : []) {
    if (typeof id === 'string' && !indexOf.has(id) && !opaque.has(id))
      add(unknownTaskError(name, 'outputs', id, [...indexOf.keys(), ...opaque]), 'outputs')
  }
  for (const cycle of allCycles(depSets))
    add(
      cycleError(
        name,
        cycle.map((i) => tasks[i].id),
      ),
      `task "${tasks[cycle[0]].id}"`,
    )
  return problems
}
