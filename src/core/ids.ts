import { randomBytes } from 'node:crypto'

declare const brand: unique symbol

/** A string made distinct at the type level, so ids of one kind are not passed as another. */
export type Brand<T, B extends string> = T & { readonly [brand]: B }

/** The id of one run of a workflow. */
export type RunId = Brand<string, 'RunId'>
/** The id of a task inside its workflow (unique per workflow, not globally). */
export type TaskId = Brand<string, 'TaskId'>
/** The id of a registered agent instance. */
export type AgentId = Brand<string, 'AgentId'>

let counter = 0
const prefix = randomBytes(4).toString('hex')

function nextId(kind: string): string {
  counter = (counter + 1) >>> 0
  return `${kind}_${Date.now().toString(36)}${prefix}${counter.toString(36).padStart(5, '0')}`
}

/**
 * A new, process-unique, time-ordered run id (`run_…`).
 *
 * @example
 * ```ts
 * const id = newRunId()
 * ```
 */
export function newRunId(): RunId {
  return nextId('run') as RunId
}

/** A new agent instance id (`agt_…`). */
export function newAgentId(): AgentId {
  return nextId('agt') as AgentId
}

/** Brands a string as a {@link RunId} (for ids read back from a store or a user). */
export function asRunId(id: string): RunId {
  return id as RunId
}

/** Brands a string as a {@link TaskId}. */
export function asTaskId(id: string): TaskId {
  return id as TaskId
}

/** Brands a string as an {@link AgentId}. */
export function asAgentId(id: string): AgentId {
  return id as AgentId
}
