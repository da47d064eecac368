import { z } from 'zod'
import { PRIORITIES, type Priority } from '../../core/states.js'
import { retryOptionsSchema, type RetryOptions } from '../../resilience/retry.js'

/** One stage of a pipeline: an agent, or (`parallel`) several run on the same input. */
export type PipelineStage =
  | { id: string; agent: string; input?: unknown; retry?: RetryOptions; timeoutMs?: number }
  | { id: string; parallel: { id: string; agent: string; retry?: RetryOptions; timeoutMs?: number }[] }

/** Fields every pattern entry shares with a task. */
interface PatternBase {
  /** The id of the pattern; its result is the output of the task with this id. */
  id: string
  dependsOn?: string[]
  priority?: Priority
  description?: string
}

/** A pipeline: each stage's output is the next stage's input. */
export interface PipelineSpec extends PatternBase {
  pattern: 'pipeline'
  /** Input of the first stage (literals and references). */
  input?: unknown
  stages: PipelineStage[]
  /** `stop`: a failed stage fails the run; `continue`: later stages run with `undefined`. @default "stop" */
  onError?: 'stop' | 'continue'
  /** Output `{ output, stages: { id: output } }` instead of the last stage's output. @default false */
  keepIntermediate?: boolean
}

/** Map an agent over a list, then reduce with another. */
export interface MapReduceSpec extends PatternBase {
  pattern: 'map-reduce'
  /**
   * The list; each item is one map task's input. Either a literal list, or a
   * reference (`{ $ref: tasks.scan.output.files }`) to a list known only at
   * run time, of at most `maxItems` items.
   */
  items: unknown[] | { $ref: string }
  /** Most items a list known at run time may have (one task slot each). @default 1000 */
  maxItems?: number
  /** Most map tasks running at once. @default no limit */
  concurrency?: number
  map: { agent: string; retry?: RetryOptions; timeoutMs?: number }
  /** Receives `{ items: [outputs…] }`. */
  reduce: { agent: string; retry?: RetryOptions; timeoutMs?: number }
  /** `fail`: a failed item fails the run; `skip`: it is left out of the reduce. Retries come from `map.retry`. @default "fail" */
  onItemFailure?: 'fail' | 'skip'
}

/** Ask several agents the same question and combine the answers. */
export interface ConsensusSpec extends PatternBase {
  pattern: 'consensus'
  /** The voters: agent names. */
  agents: string[]
  input?: unknown
  /** @default "majority" */
  strategy?: 'majority' | 'weighted'
  weights?: Record<string, number>
  /** Multiply weights by each answer's `confidence`. @default false */
  useConfidence?: boolean
  /** Fraction of voters that must answer, in (0, 1]. @default 0.5 */
  quorum?: number
  /** @default "first" */
  tie?: 'first' | 'fail'
  /** An agent that combines the votes itself (receives the same input as the built-in tally). */
  tally?: string
  retry?: RetryOptions
  timeoutMs?: number
}

/** Any pattern entry of a workflow's `tasks`. */
export type PatternSpec = PipelineSpec | MapReduceSpec | ConsensusSpec

const ID = /^[A-Za-z_][A-Za-z0-9_-]{0,100}$/
const id = z.string().regex(ID, 'ids use letters, digits, "_" and "-", and start with a letter or "_"')
const step = {
  agent: z.string().min(1),
  retry: retryOptionsSchema.optional(),
  timeoutMs: z.number().positive().optional(),
}
const base = {
  id,
  dependsOn: z.array(z.string()).optional(),
  priority: z.enum(PRIORITIES as [Priority, ...Priority[]]).optional(),
  description: z.string().optional(),
}

/** The zod schema of a pattern entry. */
export const patternSpecSchema = z.discriminatedUnion('pattern', [
  z
    .object({
      ...base,
      pattern: z.literal('pipeline'),
      input: z.unknown().optional(),
      stages: z
        .array(
          z.union([
            z.object({ id, ...step, input: z.unknown().optional() }).strict(),
            z
              .object({
                id,
                parallel: z
                  .array(z.object({ id, ...step }).strict())
                  .min(1, 'a parallel stage needs at least one agent'),
              })
              .strict(),
          ]),
        )
        .min(1, 'a pipeline needs at least one stage'),
      onError: z.enum(['stop', 'continue']).optional(),
      keepIntermediate: z.boolean().optional(),
    })
    .strict(),
  z
    .object({
      ...base,
      pattern: z.literal('map-reduce'),
      items: z.union([z.array(z.unknown()), z.object({ $ref: z.string() }).strict()], {
        message: 'items must be a list, or a { $ref } to a list produced at run time',
      }),
      maxItems: z.number().int().min(1).max(100_000).optional(),
      concurrency: z.number().int().min(1).optional(),
      map: z.object(step).strict(),
      reduce: z.object(step).strict(),
      onItemFailure: z.enum(['fail', 'skip']).optional(),
    })
    .strict(),
  z
    .object({
      ...base,
      pattern: z.literal('consensus'),
      agents: z.array(z.string().min(1)).min(1, 'a consensus needs at least one voting agent'),
      input: z.unknown().optional(),
      strategy: z.enum(['majority', 'weighted']).optional(),
      weights: z.record(z.string(), z.number().finite().min(0, 'weights must be ≥ 0')).optional(),
      useConfidence: z.boolean().optional(),
      quorum: z
        .number()
        .gt(0, 'a quorum is a fraction in (0, 1]')
        .max(1, 'a quorum above 1 can never be met')
        .optional(),
      tie: z.enum(['first', 'fail']).optional(),
      tally: z.string().min(1).optional(),
      retry: retryOptionsSchema.optional(),
      timeoutMs: z.number().positive().optional(),
    })
    .strict(),
])
