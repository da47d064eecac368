import { z } from 'zod'
import { PRIORITIES, type Priority } from '../core/states.js'
import { retryOptionsSchema, type RetryOptions } from '../resilience/retry.js'
import { patternSpecSchema, type PatternSpec } from './patterns/pattern-spec.js'

const ID = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/

/** A reference to the run's input or to an upstream task's output: `{ $ref: "tasks.scan.output.files" }`. */
export interface RefSpec {
  $ref: string
}

/** One task of a workflow, as written in a file or given to the builder. */
export interface TaskSpec {
  /** Unique id within the workflow: letters, digits, `_`, `-`. */
  id: string
  /** Name of the agent to run. Give this or `capability`. */
  agent?: string
  /** The agent versions allowed: exact (`1.2.3`) or an npm-style range (`^1.2.0`, `1.x`); the highest registered one inside it runs. */
  version?: string
  /** A capability; any agent offering it may run the task. */
  capability?: string
  /** The input: literals mixed with `{ $ref }` references. */
  input?: unknown
  /** Tasks that must finish first (references add their tasks implicitly). */
  dependsOn?: string[]
  /**
   * When the task may start. `all`: once every upstream task (`dependsOn` and
   * the tasks its input or condition references) has finished. `any`: as soon
   * as one of them has succeeded; the others are ignored, not cancelled (they
   * run on, and the run waits for them), and references to one that has not
   * succeeded yet resolve to `undefined`. An `any` task whose upstream tasks
   * all finish without one succeeding is SKIPPED. @default "all"
   */
  dependencies?: 'all' | 'any'
  /** @default "MEDIUM" */
  priority?: Priority
  /** @default one attempt */
  retry?: RetryOptions
  /** Time limit of one attempt in ms. @default no limit */
  timeoutMs?: number
  /** Condition; the task is SKIPPED when it is false. E.g. `tasks.scan.output.count > 0`. */
  when?: string
  /** Agent tried once the main agent's attempts are exhausted. */
  fallback?: string
  /** When true, the run goes on if this task fails; dependents see `undefined` for its output. @default false */
  continueOnFailure?: boolean
  /**
   * Tasks of one run sharing a `group` name run at most `max` at a time
   * (map-reduce's `concurrency` uses it). @default no group
   */
  group?: { name: string; max: number }
  /** Free text. */
  description?: string
}

/** A declared input parameter of a workflow. */
export interface InputSpec {
  type?: 'string' | 'number' | 'boolean' | 'object' | 'array'
  default?: unknown
  required?: boolean
  description?: string
}

/** A workflow definition: the YAML/JSON file format, also produced by the builder. */
export interface WorkflowSpec {
  /** Name of the workflow. */
  name: string
  /** A version label. @default "1" */
  version?: string | number
  description?: string
  /** Module of agent definitions, relative to the file (used by the CLI). */
  agents?: string
  /** Declared input parameters, with types and defaults. */
  inputs?: Record<string, InputSpec>
  /** Most tasks of one run executing at once. @default no limit */
  concurrency?: number
  /** Defaults applied to every task. */
  defaults?: { retry?: RetryOptions; timeoutMs?: number; priority?: Priority }
  /** Tasks, and patterns (`pattern: pipeline | map-reduce | consensus`) that compile to tasks. */
  tasks: (TaskSpec | PatternSpec)[]
  /**
   * Ids of the tasks whose outputs are the run's answer (shown by
   * `flotilla run`, `RunResult.finalOutputs`). @default the tasks nothing depends on
   */
  outputs?: string[]
  /**
   * When the run ends (succeeded or failed), a model writes a short summary
   * of its results, stored with the run (`RunRecord.summary`, `flotilla runs
   * show`) and counted in its cost. `true` uses the orchestrator's
   * `summaryModel`; an object may name the model. A summary that cannot be
   * written never fails the run (`run.summary_failed`). @default false
   */
  summary?: boolean | SummarySpec
}

/** How a run's summary is written (the workflow's `summary` option). */
export interface SummarySpec {
  /** `provider:model`; left out: the orchestrator's `summaryModel`. */
  model?: string
  /** Most tokens of the summary. @default 300 */
  maxTokens?: number
  /** The system prompt. @default asks for a few plain sentences on what the run found and what failed */
  system?: string
  /** Prices by `provider:model` prefix (US dollars per million tokens), over the shipped table. */
  prices?: Record<string, { input: number; output: number; cachedInput?: number }>
}

/** The zod schema of a workflow's `summary` option. */
export const summarySpecSchema = z.union([
  z.boolean(),
  z
    .object({
      model: z.string().min(1).optional(),
      maxTokens: z.number().int().positive().max(100_000).optional(),
      system: z.string().min(1).optional(),
      prices: z
        .record(
          z.string(),
          z
            .object({ input: z.number().min(0), output: z.number().min(0), cachedInput: z.number().min(0).optional() })
            .strict(),
        )
        .optional(),
    })
    .strict(),
])

const inputSpecSchema = z
  .object({
    type: z.enum(['string', 'number', 'boolean', 'object', 'array']).optional(),
    default: z.unknown().optional(),
    required: z.boolean().optional(),
    description: z.string().optional(),
  })
  .strict()

/** The zod schema of a task. */
export const taskSpecSchema = z
  .object({
    id: z.string().regex(ID, 'task ids use letters, digits, "_" and "-", and start with a letter or "_"'),
    agent: z.string().min(1).optional(),
    version: z.string().min(1).optional(),
    capability: z.string().min(1).optional(),
    input: z.unknown().optional(),
    dependsOn: z.array(z.string()).optional(),
    dependencies: z
      .enum(['all', 'any'], {
        message: 'dependencies is "all" or "any" (when the task may start); list the upstream tasks under "dependsOn"',
      })
      .optional(),
    priority: z.enum(PRIORITIES as [Priority, ...Priority[]]).optional(),
    retry: retryOptionsSchema.optional(),
    timeoutMs: z.number().positive().optional(),
    when: z.string().min(1).optional(),
    fallback: z.string().min(1).optional(),
    continueOnFailure: z.boolean().optional(),
    group: z
      .object({ name: z.string().min(1), max: z.number().int().min(1) })
      .strict()
      .optional(),
    description: z.string().optional(),
  })
  .strict()
  .refine((t) => (t.agent === undefined) !== (t.capability === undefined), {
    message: 'a task names exactly one of "agent" or "capability"',
  })

/**
 * A `tasks` entry: a pattern when it has a `pattern` field, else a task.
 * Each kind is checked by its own schema so messages name the real problem.
 */
const taskEntrySchema = z.unknown().superRefine((value, ctx) => {
  const isPattern = value !== null && typeof value === 'object' && 'pattern' in value
  const parsed = (isPattern ? patternSpecSchema : taskSpecSchema).safeParse(value)
  if (!parsed.success)
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path })
})

/** The zod schema of a workflow file. Also published as `schema/workflow.schema.json`. */
export const workflowSpecSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().min(1),
    version: z.union([z.string(), z.number()]).optional(),
    description: z.string().optional(),
    agents: z.string().min(1).optional(),
    inputs: z.record(z.string(), inputSpecSchema).optional(),
    concurrency: z.number().int().positive().optional(),
    defaults: z
      .object({
        retry: retryOptionsSchema.optional(),
        timeoutMs: z.number().positive().optional(),
        priority: z.enum(PRIORITIES as [Priority, ...Priority[]]).optional(),
      })
      .strict()
      .optional(),
    tasks: z.array(taskEntrySchema).min(1, 'a workflow needs at least one task'),
    outputs: z.array(z.string().min(1)).min(1, 'name at least one task, or leave "outputs" out').optional(),
    summary: summarySpecSchema.optional(),
  })
  .strict()

/**
 * The JSON Schema of the workflow file format, for editors.
 *
 * @example
 * ```ts
 * writeFileSync('workflow.schema.json', JSON.stringify(workflowJsonSchema(), null, 2))
 * ```
 */
export function workflowJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(workflowSpecSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  const task = z.toJSONSchema(taskSpecSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  const pattern = z.toJSONSchema(patternSpecSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  delete task.$schema
  delete pattern.$schema
  task.oneOf = [
    { required: ['agent'], not: { required: ['capability'] } },
    { required: ['capability'], not: { required: ['agent'] } },
  ]
  ;(schema.properties as Record<string, { items: unknown }>).tasks.items = { anyOf: [task, pattern] }
  return { ...schema, title: 'Flotilla workflow', $id: 'https://flotilla.dev/schema/workflow.schema.json' }
}

/** Common names for workflow keys, from other tools, and the key Flotilla uses. */
const KEY_ALIASES: Readonly<Record<string, string>> = {
  depends: 'dependsOn',
  needs: 'dependsOn',
  after: 'dependsOn',
  requires: 'dependsOn',
  timeout: 'timeoutMs',
  retries: 'retry',
  condition: 'when',
  if: 'when',
  params: 'input',
  inputs: 'input',
  with: 'input',
  args: 'input',
}

/** Edits (insert, delete, change, swap of two neighbours) from `a` to `b`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * The candidate closest to `word` when it is a near miss (a typo, another
 * case, `_` or `-` for camel case), else undefined.
 *
 * @example
 * ```ts
 * closestName('depends_on', ['dependsOn', 'agent']) // 'dependsOn'
 * ```
 */
export function closestName(word: string, candidates: Iterable<string>): string | undefined {
  const norm = (w: string): string => w.toLowerCase().replace(/[_-]/g, '')
  const target = norm(word)
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    if (c === word) continue
    const d = editDistance(target, norm(c))
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(target.length / 3)) ? best : undefined
}

interface JsonNode {
  properties?: Record<string, JsonNode>
  items?: JsonNode
  additionalProperties?: unknown
  anyOf?: JsonNode[]
  oneOf?: JsonNode[]
  allOf?: JsonNode[]
}

let jsonSchemaCache: JsonNode | undefined

function flatten(nodes: readonly JsonNode[]): JsonNode[] {
  const out: JsonNode[] = []
  const stack = [...nodes]
  while (stack.length > 0) {
    const n = stack.pop()!
    out.push(n)
    for (const group of [n.anyOf, n.oneOf, n.allOf]) if (group) stack.push(...group)
  }
  return out
}

/** The keys the workflow format accepts in the object at `path` (e.g. `['tasks', 2]`: a task's or a pattern's keys). */
export function keysAt(path: readonly PropertyKey[]): string[] {
  jsonSchemaCache ??= workflowJsonSchema() as JsonNode
  let nodes: JsonNode[] = [jsonSchemaCache]
  for (const p of path) {
    const next: JsonNode[] = []
    for (const n of flatten(nodes)) {
      if (typeof p === 'number') {
        if (n.items) next.push(n.items)
      } else if (n.properties?.[String(p)]) next.push(n.properties[String(p)])
      else if (n.additionalProperties !== null && typeof n.additionalProperties === 'object')
        next.push(n.additionalProperties as JsonNode)
    }
    nodes = next
  }
  const keys = new Set<string>()
  for (const n of flatten(nodes)) for (const k of Object.keys(n.properties ?? {})) keys.add(k)
  return [...keys]
}

/**
 * A hint for a key the format does not accept at `path`: ` (did you mean
 * "dependsOn"?)` for a near miss or a name other tools use; empty otherwise.
 */
export function keyHint(path: readonly PropertyKey[], key: string): string {
  const keys = keysAt(path)
  const alias = KEY_ALIASES[key]
  const guess = alias !== undefined && keys.includes(alias) ? alias : closestName(key, keys)
  return guess === undefined ? '' : ` (did you mean "${guess}"?)`
}

/** A zod issue's message with a "did you mean" hint for each unrecognized key it names. */
export function issueMessage(issue: {
  path: readonly PropertyKey[]
  message: string
  code?: string
  keys?: readonly string[]
}): string {
  if (!/^Unrecognized keys?:/.test(issue.message)) return issue.message
  const keys = issue.keys ?? [...issue.message.matchAll(/"([^"]+)"/g)].map((m) => m[1])
  if (keys.length === 1) return `${issue.message}${keyHint(issue.path, keys[0])}`
  return `${issue.message}${keys.map((k) => keyHint(issue.path, k).replace(' (did you mean', ` ("${k}": did you mean`)).join('')}`
}

/** A zod issue path as `tasks[1 "b"].dependsOn`, naming tasks by id. */
export function issuePath(path: readonly PropertyKey[], spec: unknown): string {
  let where = ''
  let cur: unknown = spec
  for (const p of path) {
    if (typeof p === 'number' && Array.isArray(cur)) {
      const item = cur[p] as { id?: unknown } | undefined
      where += item && typeof item.id === 'string' ? `[${p} "${item.id}"]` : `[${p}]`
    } else where += where ? `.${String(p)}` : String(p)
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<PropertyKey, unknown>)[p] : undefined
  }
  return where || '(root)'
}

/** Formats zod issues as one readable line each, naming the path, with a "did you mean" hint for a near-miss key. */
export function formatIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  spec?: unknown,
): string {
  return issues
    .slice(0, 5)
    .map((i) => `${issuePath(i.path, spec)}: ${issueMessage(i)}`)
    .join('; ')
}
