import { FlotillaError } from '../core/errors.js'
import type { TaskOverride } from '../orchestrator/replay.js'
import type { RunRecord } from '../store/records.js'
import type { WorkflowSpec } from '../workflows/spec.js'
import { FORBIDDEN_KEYS, parseInputValue, usageError } from './args.js'

type Obj = Record<string, unknown>

function isPlainObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** An object that can be merged into: a plain object that is not a `{ $ref }` reference. */
function isMergeable(value: unknown): value is Obj {
  return isPlainObject(value) && !('$ref' in value)
}

/**
 * Turns `--set task.field.path=value` pairs into per-task overrides of a
 * stored run's definition. The value is JSON when it is valid JSON, else
 * text. The path after the task id is applied to a copy of that task's
 * spec, merging objects: `fix.input.apply=true` keeps fix's other input
 * keys. A value on the way that is not an object (a number, a list, a
 * `{ $ref }`) is replaced. A malformed pair is `CLI_USAGE`; a task the
 * workflow does not have, `VALIDATION_FAILED`.
 *
 * @example
 * ```ts
 * parseSets('runs replay', record, ['fix.input.apply=true', 'fix.agent=other'])
 * // { fix: { input: { ...storedInput, apply: true }, agent: 'other' } }
 * ```
 */
export function parseSets(command: string, record: RunRecord, pairs: readonly string[]): Record<string, TaskOverride> {
  const spec = record.definition as WorkflowSpec
  const working = new Map<string, Obj>()
  const touched = new Map<string, Set<string>>()
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0)
      throw usageError(
        command,
        `--set expects task.field=value, as in fix.input.apply=true or fix.agent=other; got "${pair}".`,
      )
    const key = pair.slice(0, eq)
    const path = key.split('.')
    if (path.some((p) => p.length === 0 || FORBIDDEN_KEYS.has(p))) {
      throw usageError(
        command,
        `--set key "${key}" is malformed: use a task id and field names separated by single dots, like fix.input.apply.`,
      )
    }
    if (path.length < 2)
      throw usageError(
        command,
        `--set "${key}" names no field: use task.field=value, as in ${key}.input.x=1 or ${key}.agent=other.`,
      )
    const [taskId, field] = path
    if (field === 'id') throw usageError(command, `--set cannot change the id of task "${taskId}".`)
    const task = spec.tasks.find((t) => t.id === taskId)
    if (task === undefined) {
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Replay of run ${record.id}: --set names task "${taskId}", which workflow "${spec.name}" does not have. Tasks: ${spec.tasks.map((t) => t.id).join(', ')}.`,
        {
          details: { runId: record.id, taskId },
        },
      )
    }
    let copy = working.get(taskId)
    if (copy === undefined) {
      copy = structuredClone(task) as unknown as Obj
      working.set(taskId, copy)
      touched.set(taskId, new Set())
    }
    touched.get(taskId)!.add(field)
    assignPath(copy, path.slice(1), parseInputValue(pair.slice(eq + 1)))
  }
  const out: Record<string, TaskOverride> = {}
  for (const [taskId, copy] of working) {
    const override: Obj = {}
    for (const field of touched.get(taskId)!) override[field] = copy[field]
    out[taskId] = override as TaskOverride
  }
  return out
}

function assignPath(target: Obj, path: readonly string[], value: unknown): void {
  let cur = target
  for (let i = 0; i < path.length - 1; i++) {
    const next = cur[path[i]]
    if (isMergeable(next)) cur = next
    else cur = cur[path[i]] = {}
  }
  cur[path[path.length - 1]] = value
}

/**
 * The input of a replay: the stored run input with `changes` merged in
 * (objects merge key by key; anything else is replaced).
 *
 * @example
 * ```ts
 * mergeInput({ apply: false, target: 'src' }, { apply: true }) // { apply: true, target: 'src' }
 * ```
 */
export function mergeInput(stored: unknown, changes: Obj): unknown {
  if (!isPlainObject(stored)) return changes
  const out: Obj = { ...stored }
  for (const [k, v] of Object.entries(changes))
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeInput(out[k], v) : v
  return out
}
