import { compileWorkflow, type Workflow } from './compile.js'
import type { ConsensusSpec, MapReduceSpec, PatternSpec, PipelineSpec } from './patterns/pattern-spec.js'
import type { InputSpec, RefSpec, TaskSpec, WorkflowSpec } from './spec.js'

/** Options of a task added with {@link WorkflowBuilder.task}: a {@link TaskSpec} whose `dependsOn` only names tasks declared before (`Ids`). */
export type TaskOptions<Ids extends string> = Omit<TaskSpec, 'id' | 'dependsOn'> & { dependsOn?: readonly Ids[] }

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
export class WorkflowBuilder<Ids extends string = never> {
  private readonly tasks: (TaskSpec | PatternSpec)[] = []
  private options: Omit<WorkflowSpec, 'name' | 'tasks'> = {}

  constructor(private readonly name: string) {}

  /** Adds a task. */
  task<Id extends string>(id: Id, options: TaskOptions<Ids>): WorkflowBuilder<Ids | Id> {
    const { dependsOn, ...rest } = options
    const spec: TaskSpec = { id, ...rest }
    if (dependsOn !== undefined) spec.dependsOn = [...dependsOn]
    for (const key of Object.keys(spec) as (keyof TaskSpec)[]) if (spec[key] === undefined) delete spec[key]
    this.tasks.push(spec)
    return this as unknown as WorkflowBuilder<Ids | Id>
  }

  /** Adds a pipeline: each stage's output feeds the next; the result is task `id`'s output. */
  pipeline<Id extends string>(id: Id, options: Omit<PipelineSpec, 'id' | 'pattern' | 'dependsOn'> & { dependsOn?: readonly Ids[] }): WorkflowBuilder<Ids | Id> {
    return this.add({ ...options, id, pattern: 'pipeline' })
  }

  /** Adds a map over a list and a reduce of the results; the reduce is task `id`. */
  mapReduce<Id extends string>(id: Id, options: Omit<MapReduceSpec, 'id' | 'pattern' | 'dependsOn'> & { dependsOn?: readonly Ids[] }): WorkflowBuilder<Ids | Id> {
    return this.add({ ...options, id, pattern: 'map-reduce' })
  }

  /** Adds a consensus vote among agents; task `id` outputs the decision, tally, agreement and votes. */
  consensus<Id extends string>(id: Id, options: Omit<ConsensusSpec, 'id' | 'pattern' | 'dependsOn'> & { dependsOn?: readonly Ids[] }): WorkflowBuilder<Ids | Id> {
    return this.add({ ...options, id, pattern: 'consensus' })
  }

  private add<Id extends string>(entry: Omit<PatternSpec, 'dependsOn'> & { dependsOn?: readonly string[] }): WorkflowBuilder<Ids | Id> {
    const { dependsOn, ...rest } = entry
    const copy = (dependsOn ? { ...rest, dependsOn: [...dependsOn] } : rest) as PatternSpec
    this.tasks.push(copy)
    return this as unknown as WorkflowBuilder<Ids | Id>
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

  /** A description. */
  describe(text: string): this {
    this.options.description = text
    return this
  }

  /** The plain spec (JSON-safe), e.g. to write as a file. */
  toSpec(): WorkflowSpec {
    return { name: this.name, ...this.options, tasks: this.tasks.map((t) => ({ ...t })) }
  }

  /** Validates and compiles; throws a typed `WORKFLOW_*` error naming the problem. */
  build(): Workflow {
    return compileWorkflow(this.toSpec())
  }
}

/** Starts a {@link WorkflowBuilder}. */
export function workflow(name: string): WorkflowBuilder {
  return new WorkflowBuilder(name)
}
