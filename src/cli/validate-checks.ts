import type { AnyAgentDefinition } from '../agents/define-agent.js'
import { toFlotillaError } from '../core/errors.js'
import type { Orchestrator } from '../orchestrator/orchestrator.js'
import { compileWorkflow, type WorkflowProblem } from '../workflows/compile.js'
import { expandPatterns, isPattern } from '../workflows/patterns/expand.js'
import { patternSpecSchema, type PatternSpec } from '../workflows/patterns/pattern-spec.js'
import { closestName, type TaskSpec, type WorkflowSpec } from '../workflows/spec.js'

/** The tasks of a definition as far as they can be read (patterns expanded when valid). */
export function readableTasks(data: Record<string, unknown>): TaskSpec[] {
  const raw = Array.isArray(data.tasks) ? (data.tasks as unknown[]) : []
  const tasks: TaskSpec[] = []
  for (const e of raw) {
    if (e === null || typeof e !== 'object' || typeof (e as { id?: unknown }).id !== 'string') continue
    if (!isPattern(e as TaskSpec | PatternSpec)) tasks.push(e as TaskSpec)
    else if (patternSpecSchema.safeParse(e).success) tasks.push(...expandPatterns([e as PatternSpec]))
  }
  return tasks
}

/**
 * Every task whose agent, fallback or capability the orchestrator cannot
 * route, each as a `WORKFLOW_UNKNOWN_AGENT` problem with the closest
 * registered name when there is a near miss.
 */
export function unknownAgentProblems(
  orchestrator: Orchestrator,
  name: string,
  tasks: readonly TaskSpec[],
  registered: readonly string[],
): WorkflowProblem[] {
  const problems: WorkflowProblem[] = []
  for (const t of tasks) {
    const only: TaskSpec = { id: t.id }
    for (const key of ['agent', 'version', 'capability', 'fallback'] as const)
      if (typeof t[key] === 'string') only[key] = t[key]
    if (only.agent === undefined && only.capability === undefined) continue
    try {
      orchestrator.validate(compileWorkflow({ name, tasks: [only] } satisfies WorkflowSpec))
    } catch (e) {
      const error = toFlotillaError(e)
      const wanted = only.agent ?? only.capability!
      const guess = closestName(wanted, registered)
      problems.push({
        code: error.code,
        where: `task "${t.id}"`,
        message: `${error.message}${guess === undefined ? '' : ` Did you mean "${guess}"?`}`,
      })
    }
  }
  return problems
}

/** Paths of the `{ $ref }` objects inside an input template. */
function refPaths(
  template: unknown,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (template === null || typeof template !== 'object') return out
  const keys = Object.keys(template)
  if (!Array.isArray(template) && keys.length === 1 && keys[0] === '$ref') out.push(at)
  else if (Array.isArray(template)) template.forEach((v, i) => refPaths(v, [...at, i], out))
  else for (const k of keys) refPaths((template as Record<string, unknown>)[k], [...at, k], out)
  return out
}

const startsWith = (path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean =>
  prefix.every((p, i) => path[i] === p)

/**
 * The literal parts of each task's input checked against the input schema
 * of its agent (by name; capability tasks are not checked): an issue is
 * reported unless it lies at or under a `{ $ref }`, whose value is known
 * only at run time. Each failing task is one `AGENT_INPUT_INVALID` problem.
 */
export function literalInputProblems(
  tasks: readonly TaskSpec[],
  definitions: readonly AnyAgentDefinition[],
): WorkflowProblem[] {
  const problems: WorkflowProblem[] = []
  for (const t of tasks) {
    if (typeof t.agent !== 'string') continue
    const def = definitions
      .filter((d) => d.name === t.agent)
      .sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }))[0]
    if (def?.input === undefined) continue
    const refs = refPaths(t.input)
    const parsed = def.input.safeParse(t.input)
    if (parsed.success) continue
    const issues = parsed.error.issues.filter((i) => !refs.some((r) => startsWith(i.path, r)))
    if (issues.length === 0) continue
    const lines = issues.slice(0, 5).map((i) => `at "${i.path.join('.') || '(root)'}": ${i.message}`)
    problems.push({
      code: 'AGENT_INPUT_INVALID',
      where: `task "${t.id}" input`,
      message: `Task "${t.id}": the input given to agent "${def.name}" does not match its input schema, ${lines.join('; ')}. Fix the task's input.`,
    })
  }
  return problems
}
