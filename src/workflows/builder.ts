import type { AnyAgentDefinition, Schema } from '../agents/define-agent.js'
import { compileWorkflow, type Workflow } from './compile.js'
import type { ConsensusSpec, MapReduceSpec, PatternSpec, PipelineSpec } from './patterns/pattern-spec.js'
import type { ConsensusResult } from './patterns/tally.js'
import type { InputSpec, RefSpec, SummarySpec, TaskSpec, WorkflowSpec } from './spec.js'

/**
 * Options of a task added with {@link WorkflowBuilder.task}: a {@link TaskSpec}
 * whose `dependsOn` only names tasks declared before (`Ids`), and whose
 * `agent` or `fallback` may be the agent definition itself (its name is
 * used); given a definition, the task's output is typed from its output
 * schema.
 */
export type TaskOptions<Ids extends string, A extends string | AnyAgentDefinition = string> = Omit<
  TaskSpec,
  'id' | 'dependsOn' | 'agent' | 'fallback'
> & {
  dependsOn?: readonly Ids[]
  agent?: A
  fallback?: string | AnyAgentDefinition
}

/** The output type of an agent given to the builder: from a definition's output schema (or handler), `unknown` for a name. */
export type AgentOutput<A> = A extends { readonly output: Schema<infer O> | undefined } ? O : unknown

/** Options of a pattern added with the builder: its spec without `id` and `pattern`, `dependsOn` naming tasks declared before. */
export type PatternOptions<P extends PatternSpec, Ids extends string> = Omit<P, 'id' | 'pattern' | 'dependsOn'> & {
  dependsOn?: readonly Ids[]
}

type PatternEntry = Omit<PatternSpec, 'dependsOn'> & { dependsOn?: readonly string[] }

/** Outputs of the tasks of a workflow under construction, by task id. */
type With<Outputs, Id extends string, O> = {
  [K in keyof Outputs | Id]: K extends Id ? O : K extends keyof Outputs ? Outputs[K] : never
}

/**
 * A reference to an upstream task's output (optionally a field path inside
 * it). Using it in a task's input makes that task depend on `taskId`.
 *
 * @example
 * ```ts
 * ref('scan', 'problems') // { $ref: 'tasks.scan.output.problems' }
 * ```
 */
export function ref(taskId: string, path?: string): RefSpec {
  return { $ref: path ? `tasks.${taskId}.output.${path}` : `tasks.${taskId}.output` }
}

/**
 * A reference to a field of the run's input (a template parameter).
 *
 * @example
 * ```ts
 * input('target') // { $ref: 'input.target' }
 * ```
 */
export function inputRef(path?: string): RefSpec {
  return { $ref: path ? `input.${path}` : 'input' }
}

/**
 * A typed builder of workflows. Each `task` call widens the set of known
 * ids, so `dependsOn` only accepts tasks declared before.
 *
 * @example
 * ```ts
 * const wf = workflow('hello')
 *   .task('greet', { agent: 'greeter', input: { name: inputRef('name') } })
 *   .task('shout', { agent: 'upper', input: { text: ref('greet', 'text') } })
 *   .build()
 * ```
 */
export class WorkflowBuilder<
  Ids extends string = never,
  Outputs extends Record<string, unknown> = Record<never, never>,
> {
  private readonly tasks: (TaskSpec | PatternSpec)[] = []
  private options: Omit<WorkflowSpec, 'name' | 'tasks'> = {}

  constructor(private readonly name: string) {}

  /**
   * Adds a task. Given an agent definition rather than a name, the task's
   * output is typed: `result.output(id)` has the agent's output type.
   */
  task<Id extends string, A extends string | AnyAgentDefinition = string>(
    id: Id,
    options: TaskOptions<Ids, A>,
  ): WorkflowBuilder<Ids | Id, With<Outputs, Id, AgentOutput<A>>> {
    const { dependsOn, agent, fallback, ...rest } = options
    const spec: TaskSpec = { id, ...rest }
    if (agent !== undefined) spec.agent = typeof agent === 'string' ? agent : agent.name
    if (fallback !== undefined) spec.fallback = typeof fallback === 'string' ? fallback : fallback.name
    if (dependsOn !== undefined) spec.dependsOn = [...dependsOn]
    for (const key of Object.keys(spec) as (keyof TaskSpec)[]) if (spec[key] === undefined) delete spec[key]
    this.tasks.push(spec)
    return this as unknown as WorkflowBuilder<Ids | Id, With<Outputs, Id, AgentOutput<A>>>
  }

  /** Adds a pipeline: each stage's output feeds the next; the result is task `id`'s output. */
  pipeline<Id extends string>(
    id: Id,
    options: PatternOptions<PipelineSpec, Ids>,
  ): WorkflowBuilder<Ids | Id, With<Outputs, Id, unknown>> {
    return this.add({ ...options, id, pattern: 'pipeline' })
  }

  /** Adds a map over a list and a reduce of the results; the reduce is task `id`. */
  mapReduce<Id extends string>(
    id: Id,
    options: PatternOptions<MapReduceSpec, Ids>,
  ): WorkflowBuilder<Ids | Id, With<Outputs, Id, unknown>> {
    return this.add({ ...options, id, pattern: 'map-reduce' })
  }

  /** Adds a consensus vote among agents; task `id` outputs the decision, tally, agreement and votes. */
  consensus<Id extends string>(
    id: Id,
    options: PatternOptions<ConsensusSpec, Ids>,
  ): WorkflowBuilder<Ids | Id, With<Outputs, Id, ConsensusResult>> {
    return this.add({ ...options, id, pattern: 'consensus' })
  }

  private add<Id extends string, O>(entry: PatternEntry): WorkflowBuilder<Ids | Id, With<Outputs, Id, O>> {
    const { dependsOn, ...rest } = entry
    const copy = (dependsOn ? { ...rest, dependsOn: [...dependsOn] } : rest) as PatternSpec
    this.tasks.push(copy)
    return this as unknown as WorkflowBuilder<Ids | Id, With<Outputs, Id, O>>
  }

  /** Names the tasks whose outputs are the run's answer (default: the tasks nothing depends on). */
  outputs(...taskIds: Ids[]): this {
    this.options.outputs = [...taskIds]
    return this
  }

  /** Most tasks of one run executing at once. */
  concurrency(limit: number): this {
    this.options.concurrency = limit
    return this
  }

  /** Declares an input parameter with its type and default. */
  input(name: string, spec: InputSpec): this {
    this.options.inputs = { ...this.options.inputs, [name]: spec }
    return this
  }

  /** Defaults applied to every task. */
  defaults(defaults: NonNullable<WorkflowSpec['defaults']>): this {
    this.options.defaults = defaults
    return this
  }

  /** A summary of the results, written by a model when the run ends (see `WorkflowSpec.summary`). */
  summary(summary: boolean | SummarySpec = true): this {
    this.options.summary = summary
    return this
  }

  /** A description. */
  describe(text: string): this {
    this.options.description = text
    return this
  }

  /** The plain spec (JSON-safe), e.g. to write as a file. */
  toSpec(): WorkflowSpec {
    return { name: this.name, ...this.options, tasks: this.tasks.map((t) => ({ ...t })) }
  }

  /** Validates and compiles; throws a typed `WORKFLOW_*` error naming the problem. The workflow carries the output type of each task. */
  build(): Workflow<Outputs> {
    return compileWorkflow<Outputs>(this.toSpec())
  }
}

/** Starts a {@link WorkflowBuilder}. */
export function workflow(name: string): WorkflowBuilder {
  return new WorkflowBuilder(name)
}
