import { FlotillaError, toFlotillaError } from '../core/errors.js'
import { findJsonProblem } from '../core/json-value.js'
import { backoffDelay, shouldRetry } from '../resilience/retry.js'
import type { AgentPool } from '../registry/agent-pool.js'
import type { Registry } from '../registry/registry.js'
import { resolveVersion } from '../registry/discovery/versions.js'
import type { RunId, TaskId } from '../core/ids.js'
import type { AnyAgentDefinition } from '../agents/define-agent.js'
import type { RunRecord, TaskRecord } from '../store/records.js'
import type { CompiledTask, Workflow } from './compile.js'
import type { ValueSource } from './refs.js'

/** Resolves a task's input from its template and checks it against the agent's input schema. */
export function prepareInput(task: CompiledTask, def: AnyAgentDefinition, values: ValueSource): unknown {
  const input = task.resolveInput(values)
  if (def.input === undefined) return input
  const parsed = def.input.safeParse(input)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  throw new FlotillaError(
    'AGENT_INPUT_INVALID',
    `Task "${task.id}": input for agent "${def.name}" is invalid at "${issue?.path.join('.') || '(root)'}": ${issue?.message}. Fix the task's input or its references.`,
    {
      details: { taskId: task.id, agent: def.name, path: issue?.path.map(String).join('.') ?? '' },
    },
  )
}

/**
 * Checks a handler's output: against the agent's output schema when it has
 * one, then against the JSON rule of `findJsonProblem` (every output is stored
 * and passed on as JSON). `undefined` (no output) is accepted.
 *
 * @param taskId the task, named in the error when given
 * @throws FlotillaError `AGENT_OUTPUT_INVALID` naming the agent, the task and the path of the bad value.
 */
export function checkOutput(def: AnyAgentDefinition, output: unknown, taskId?: string): unknown {
  const where = taskId === undefined ? '' : ` (task "${taskId}")`
  const ids = taskId === undefined ? { agent: def.name } : { agent: def.name, taskId }
  let out = output
  if (def.output !== undefined) {
    const parsed = def.output.safeParse(output)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new FlotillaError(
        'AGENT_OUTPUT_INVALID',
        `Agent "${def.name}"${where} returned output that fails its schema at "${issue?.path.join('.') || '(root)'}": ${issue?.message}. Fix the handler or the output schema.`,
        {
          details: { ...ids, path: issue?.path.map(String).join('.') ?? '' },
        },
      )
    }
    out = parsed.data
  }
  if (out === undefined || out === null || typeof out === 'string' || typeof out === 'boolean') return out
  const problem = findJsonProblem(out)
  if (problem === undefined) return out
  throw new FlotillaError(
    'AGENT_OUTPUT_INVALID',
    `Agent "${def.name}"${where} returned output that JSON cannot hold: ${problem.path} ${problem.reason}; ${problem.fix}`,
    {
      details: { ...ids, path: problem.path, reason: problem.kind },
    },
  )
}

/** The stored record of a new run. */
export function newRunRecord(
  id: RunId,
  wf: Workflow,
  input: unknown,
  now: number,
  links: { parentRunId?: RunId | undefined; parentTaskId?: TaskId | undefined; traceParent?: string | undefined } = {},
): RunRecord {
  const { parentRunId, parentTaskId, traceParent } = links
  return {
    id,
    workflow: wf.name,
    workflowHash: wf.hash,
    definition: wf.spec,
    input,
    state: 'RUNNING',
    createdAt: now,
    startedAt: now,
    finishedAt: undefined,
    error: undefined,
    parentRunId,
    ...(parentTaskId === undefined ? {} : { parentTaskId }),
    ...(traceParent === undefined ? {} : { traceParent }),
  }
}

/** The stored records of a new run's tasks, all PENDING. */
export function newTaskRecords(id: RunId, wf: Workflow): TaskRecord[] {
  const tasks: TaskRecord[] = new Array(wf.tasks.length)
  for (let i = 0; i < wf.tasks.length; i++) {
    const t = wf.tasks[i]
    tasks[i] = {
      runId: id,
      taskId: t.id as TaskId,
      state: 'PENDING',
      attempt: 0,
      agent: undefined,
      priority: t.priority,
      idempotencyKey: `${id}:${t.id}`,
      startedAt: undefined,
      finishedAt: undefined,
      output: undefined,
      error: undefined,
    }
  }
  return tasks
}

/** The pool of every task's agent (and checks its fallback); `WORKFLOW_UNKNOWN_AGENT` names the task. */
export function resolvePools(registry: Registry, workflow: Workflow): AgentPool[] {
  return workflow.tasks.map((t) => {
    try {
      if (t.fallback !== undefined) registry.pool({ agent: t.fallback })
      const s = t.selector
      if ('capability' in s) return registry.pool(s)
      // Pin the exact version now (the latest, or the highest in the task's range),
      // so a version registered while the run is in flight does not change it.
      const def =
        s.version === undefined ? registry.getDefinition(s.agent) : resolveVersion(registry, s.agent, s.version)
      return registry.pool(def === undefined ? s : { agent: s.agent, version: def.version })
    } catch (e) {
      const err = toFlotillaError(e)
      throw new FlotillaError(
        err.code === 'VERSION_NOT_SATISFIED' ? err.code : 'WORKFLOW_UNKNOWN_AGENT',
        `Workflow "${workflow.name}", task "${t.id}": ${err.message}`,
        {
          details: { workflow: workflow.name, taskId: t.id, ...err.details },
          cause: err,
        },
      )
    }
  })
}

/**
 * What follows a failed attempt: a retry on the same agent after a backoff
 * delay, a switch to the fallback agent, or (`undefined`) final failure.
 */
export function afterFailure(
  task: CompiledTask,
  tries: number,
  usingFallback: boolean,
  error: FlotillaError,
  random: () => number,
): { delayMs: number; toFallback: boolean } | undefined {
  if (shouldRetry(task.retry, tries, error))
    return { delayMs: backoffDelay(task.retry, tries, random), toFallback: false }
  if (task.fallback !== undefined && !usingFallback && error.code !== 'AGENT_INPUT_INVALID')
    return { delayMs: 0, toFallback: true }
  return undefined
}
