import { FlotillaError, type SerializedError } from '../core/errors.js'
import type { RunEvent } from '../core/events.js'
import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type { ModelSpend } from '../core/model-spend.js'
import type { AgentState, Priority, RunState, TaskState } from '../core/states.js'

/** A stored run: one execution of a workflow. */
export interface RunRecord {
  id: RunId
  /** Name of the workflow. */
  workflow: string
  /** Hash of the workflow definition the run is pinned to. */
  workflowHash: string
  /** The JSON form of the workflow definition, so a run can be resumed from the store alone. */
  definition: unknown
  /** The run's input (template parameters). */
  input: unknown
  state: RunState
  /** Wall-clock ms. */
  createdAt: number
  startedAt: number | undefined
  finishedAt: number | undefined
  error: SerializedError | undefined
  /** The run this one was replayed from, or (with {@link RunRecord.parentTaskId}) the run that planned it, if any. */
  parentRunId: RunId | undefined
  /** For a child run: the task of {@link RunRecord.parentRunId} whose plan it runs (and which waits for it). */
  parentTaskId?: TaskId | undefined
  /**
   * The W3C `traceparent` of the run's span, when the process that created
   * the run traces: attempts run by any worker are its children, so one
   * trace spans the run.
   */
  traceParent?: string
  /**
   * The summary a model wrote of the run's results when it ended (the
   * workflow's `summary` option), with what that call cost; absent without
   * one, or when writing it failed (`run.summary_failed`).
   */
  summary?: GeneratedSummary
}

/** A run's summary, written by a model when the run ended (see `WorkflowSpec.summary`). */
export interface GeneratedSummary {
  /** The summary. */
  text: string
  /** The model that wrote it, `provider:modelId`. */
  model: string
  /** What the call used and cost; counted in the run's cost. */
  spend: ModelSpend
  /** Wall-clock ms when it was written. */
  at: number
}

/** A stored task of a run. */
export interface TaskRecord {
  runId: RunId
  taskId: TaskId
  state: TaskState
  /** The attempt that holds (or last held) the task; 0 before the first start. */
  attempt: number
  /** Agent that ran the latest attempt (`name@version`). */
  agent: string | undefined
  priority: Priority
  /** Stable across attempts: `runId:taskId`. */
  idempotencyKey: string
  startedAt: number | undefined
  finishedAt: number | undefined
  /** Set when `state` is SUCCEEDED. */
  output: unknown
  error: SerializedError | undefined
  /**
   * What the task's model calls used and cost, over its attempts (a call
   * replayed from the journal is not counted again); absent when no attempt
   * stored a model call. Written with each attempt's result, in the same
   * transaction.
   */
  model?: ModelSpend
}

/** A stored event with its position in the run's log. */
export interface StoredEvent {
  /** 1-based position in the run's event log. */
  seq: number
  event: RunEvent
}

/**
 * Options of {@link EventLog.tailEvents}. A position is an opaque string a
 * store gave as an event's `position` or a page's `next`: compare positions
 * only for equality (their order as strings means nothing), and pass one
 * only to the store (the same database) that gave it.
 */
export interface TailOptions {
  /** Return the events committed after this position; `undefined` or `''`: from the beginning. */
  after?: string
  /**
   * Most events returned (a whole number ≥ 0).
   * @default 1000
   */
  limit?: number
  /** Only the events of this run (none for an unknown or pruned run). */
  runId?: string
}

/** One event of a tail, with where it stands in the store's log. */
export interface TailedEvent {
  /** Its position: pass it as `after` to go on after this event. */
  position: string
  /** Its 1-based number in its run's log (as {@link StoredEvent.seq}). */
  seq: number
  event: RunEvent
}

/** A page of {@link EventLog.tailEvents}. */
export interface TailPage {
  /** Events in commit order (per run, by `seq`). */
  events: TailedEvent[]
  /** The position to pass as `after` next time: the last event's, or `after` itself when nothing was new (`''` when it was not given). */
  next: string
}

/** The page size of a tail when `limit` is not given. */
export const DEFAULT_TAIL_LIMIT = 1000

/**
 * The `limit` of a tail, checked: {@link DEFAULT_TAIL_LIMIT} when undefined,
 * `VALIDATION_FAILED` unless a whole number ≥ 0.
 *
 * @example
 * ```ts
 * tailLimit({ limit: 10 }) // 10
 * ```
 */
export function tailLimit(options: TailOptions): number {
  const limit = options.limit ?? DEFAULT_TAIL_LIMIT
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw new FlotillaError('VALIDATION_FAILED', `A tail's limit must be a whole number ≥ 0; got ${String(limit)}.`, {
      details: { field: 'limit' },
    })
  return limit
}

/**
 * The error for an `after` a store cannot read (`VALIDATION_FAILED`).
 *
 * @example
 * ```ts
 * throw badPosition('x', 'memory')
 * ```
 */
export function badPosition(after: string, store: string): FlotillaError {
  return new FlotillaError(
    'VALIDATION_FAILED',
    `${JSON.stringify(after.slice(0, 80))} is not a position of the ${store} store's event log; pass the \`next\` or \`position\` a tail of this store returned, or nothing to start from the beginning.`,
    { details: { field: 'after' } },
  )
}

/**
 * One write of a batch. Task writes are fenced by `attempt`: a write for an
 * attempt older than the stored one is refused with `STORE_CONFLICT`. They
 * are also fenced by the run's state: a start of a run that is not PENDING or
 * RUNNING, and a result of a run that is CANCELLED or final, are refused with
 * `STORE_CONFLICT` whose `details.runState` names the run's state (so pause
 * and cancel written by any process take effect on the one executing).
 */
export type StoreOp =
  /** `holder` / `leaseUntil`: the process that coordinates the run and its lease (wall-clock ms); none for a run left to workers. */
  | { op: 'run.create'; run: RunRecord; tasks: readonly TaskRecord[]; holder?: string; leaseUntil?: number }
  | { op: 'run.state'; runId: RunId; state: RunState; at: number; error?: SerializedError }
  | { op: 'task.start'; runId: RunId; taskId: TaskId; attempt: number; agent: string; at: number }
  /** `model`: the task's model spend with this attempt's calls (`taskSpendAfter`); left out, the stored one is kept. */
  | {
      op: 'task.succeed'
      runId: RunId
      taskId: TaskId
      attempt: number
      output: unknown
      at: number
      model?: ModelSpend
    }
  /** `settle`: the attempt is RETRYING (its executor stored the failure) and its coordinator makes it final or keeps it retrying. */
  | {
      op: 'task.fail'
      runId: RunId
      taskId: TaskId
      attempt: number
      error: SerializedError
      at: number
      final: boolean
      settle?: boolean
      model?: ModelSpend
    }
  | { op: 'task.finish'; runId: RunId; taskId: TaskId; state: 'SKIPPED' | 'CANCELLED'; at: number; reason: string }
  /** Stores a run's generated summary (its run exists; its state is not changed). */
  | { op: 'run.summary'; runId: RunId; summary: GeneratedSummary }

/** A group of writes applied atomically, with the events they produce. */
export interface StoreBatch {
  ops: readonly StoreOp[]
  events: readonly RunEvent[]
}

/** Filter for {@link RunStore.listRuns}. */
export interface RunFilter {
  state?: RunState | readonly RunState[]
  workflow?: string
  /** Only the runs whose `parentRunId` is this run (its child runs and replays). */
  parentRunId?: string
  /** @default 100 */
  limit?: number
}

/**
 * A stored agent instance: one deployed incarnation of an agent, with its
 * lifecycle state and what it was deployed with. Written through
 * {@link AgentStore.saveAgent}, one lifecycle transition at a time.
 */
export interface AgentRecord {
  /** `agt_…` */
  id: AgentId
  /** The agent definition's name. */
  name: string
  /** The agent definition's version. */
  version: string
  /** The agent that deployed this one; `null` for a root agent. */
  parentId: AgentId | null
  /** The runtime it runs on: `inprocess`, `process`, `kubernetes`… */
  runtime: string
  state: AgentState
  /** Why it is in this state (a failure reason, `terminated by parent`…), or `null`. */
  reason: string | null
  /** The spec as deployed (a JSON object). */
  spec: Record<string, unknown> | null | undefined
  /** The effective permissions (a JSON array of `{ resource, actions }`). */
  permissions: unknown[] | null | undefined
  /** The effective resource limits (a JSON object). */
  limits: Record<string, unknown> | null | undefined
  /** The operating-system process id, when it runs in a process of its own. */
  pid: number | null
  /** Wall-clock ms; set when the record is inserted and kept by later saves. */
  createdAt: number
  /** Wall-clock ms of the latest save. */
  updatedAt: number
}

/** One stored lifecycle transition of an agent instance. */
export interface AgentTransition {
  agentId: AgentId
  /** 1-based position in the agent's transitions. */
  seq: number
  /** The state before; `null` for the transition that created the record. */
  from: AgentState | null
  to: AgentState
  reason: string | null
  /** Wall-clock ms. */
  at: number
}

/** Filter for {@link AgentStore.listAgents}; omitted fields match every agent. */
export interface AgentFilter {
  /** The parent's id; `null`: root agents only. */
  parentId?: AgentId | null
  /** Any of these states (an empty list matches nothing). */
  states?: readonly AgentState[]
  /** The agent definition's name, exactly. */
  name?: string
}
