/** States of a run. `SUCCEEDED`, `FAILED` and `CANCELLED` are final. */
export type RunState = 'PENDING' | 'RUNNING' | 'PAUSED' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED'

/**
 * States of a task in a run. `SUCCEEDED`, `FAILED`, `SKIPPED` (its condition
 * was false) and `CANCELLED` are final. `RETRYING` waits for its backoff.
 */
export type TaskState = 'PENDING' | 'READY' | 'RUNNING' | 'RETRYING' | 'SUCCEEDED' | 'FAILED' | 'SKIPPED' | 'CANCELLED'

/** Scheduling priority of a task; ready tasks of a higher priority start first. */
export type Priority = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW'

/** All priorities, highest first. */
export const PRIORITIES: readonly Priority[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW']

/** All run states. */
export const RUN_STATES: readonly RunState[] = ['PENDING', 'RUNNING', 'PAUSED', 'SUCCEEDED', 'FAILED', 'CANCELLED']

/** All task states. */
export const TASK_STATES: readonly TaskState[] = [
  'PENDING',
  'READY',
  'RUNNING',
  'RETRYING',
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
]

/** True for a final run state. */
export function isFinalRunState(state: RunState): boolean {
  return state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED'
}

/** True for a final task state. */
export function isFinalTaskState(state: TaskState): boolean {
  return state === 'SUCCEEDED' || state === 'FAILED' || state === 'SKIPPED' || state === 'CANCELLED'
}

/**
 * Lifecycle states of a deployed agent instance: `PENDING → RUNNING ⇄ PAUSED`,
 * `RUNNING → FAILED`, `FAILED → PENDING` (restart), any → `TERMINATED` (final).
 */
export type AgentState = 'PENDING' | 'RUNNING' | 'PAUSED' | 'FAILED' | 'TERMINATED'

/** All agent lifecycle states. */
export const AGENT_STATES: readonly AgentState[] = ['PENDING', 'RUNNING', 'PAUSED', 'FAILED', 'TERMINATED']
