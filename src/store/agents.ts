import { asAgentId } from '../core/ids.js'
import { FlotillaError } from '../core/errors.js'
import { AGENT_STATES, type AgentState } from '../core/states.js'
import type { AgentRecord, AgentTransition } from './records.js'
import { isJsonArray, isJsonObject, jsonColumn, orNull } from '../db/json-column.js'

/** The transition argument of {@link AgentStore.saveAgent}. */
export interface AgentTransitionInput {
  from: AgentState | null
  to: AgentState
  reason: string | null
  at: number
}

/** An agent record with its JSON fields encoded, as every adapter writes it. */
export interface EncodedAgent {
  record: AgentRecord
  /** JSON text of `spec` (`null`: undefined). */
  spec: string | null
  /** JSON text of `permissions` (`null`: undefined). */
  permissions: string | null
  /** JSON text of `limits` (`null`: undefined). */
  limits: string | null
}

const KNOWN_STATES: ReadonlySet<string> = new Set(AGENT_STATES)

/**
 * Checks a save before anything is written and encodes the JSON fields:
 * `VALIDATION_FAILED` (naming the field) for a record whose state is not
 * the transition's `to`, an unknown state, an empty id, a pid that is not a
 * whole number, or a value JSON cannot hold (a BigInt, a cycle).
 */
export function checkAgentSave(record: AgentRecord, transition: AgentTransitionInput): EncodedAgent {
  const id = record.id
  const bad = (field: string, why: string): FlotillaError =>
    new FlotillaError('VALIDATION_FAILED', `Cannot save agent "${String(id)}": ${why}.`, {
      details: { agentId: String(id), field },
    })
  if (typeof id !== 'string' || id.length === 0) throw bad('id', 'its id must be a non-empty string')
  if (!KNOWN_STATES.has(record.state))
    throw bad('state', `its state ${JSON.stringify(record.state)} is not one of ${AGENT_STATES.join(', ')}`)
  if (!KNOWN_STATES.has(transition.to))
    throw bad(
      'transition.to',
      `the transition's target ${JSON.stringify(transition.to)} is not one of ${AGENT_STATES.join(', ')}`,
    )
  if (transition.from !== null && !KNOWN_STATES.has(transition.from)) {
    throw bad(
      'transition.from',
      `the transition's source ${JSON.stringify(transition.from)} is not null or one of ${AGENT_STATES.join(', ')}`,
    )
  }
  if (record.state !== transition.to)
    throw bad(
      'state',
      `the record's state ${record.state} is not the transition's target ${transition.to}; set record.state to ${transition.to}`,
    )
  if (record.pid !== null && !Number.isSafeInteger(record.pid))
    throw bad('pid', `its pid must be a whole number or null, not ${String(record.pid)}`)
  for (const [field, value] of [
    ['createdAt', record.createdAt],
    ['updatedAt', record.updatedAt],
    ['transition.at', transition.at],
  ] as const) {
    if (typeof value !== 'number' || Number.isNaN(value)) throw bad(field, `${field} must be a number of wall-clock ms`)
  }
  for (const [field, value, column] of [
    ['spec', record.spec, AGENT_SPEC],
    ['permissions', record.permissions, AGENT_PERMISSIONS],
    ['limits', record.limits, AGENT_LIMITS],
  ] as const) {
    if (value !== undefined && !column.accepts(value))
      throw bad(field, `its ${field} must be ${column.expected} or undefined`)
  }
  return {
    record,
    spec: agentJson(record.spec, id, 'spec'),
    permissions: agentJson(record.permissions, id, 'permissions'),
    limits: agentJson(record.limits, id, 'limits'),
  }
}

/** The JSON text of a field of an agent record; `null` for `undefined` (read back as `undefined`). */
function agentJson(value: unknown, id: string, field: string): string | null {
  if (value === undefined) return null
  try {
    return JSON.stringify(value) ?? null
  } catch (e) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Cannot save agent "${id}": its ${field} cannot be stored as JSON (${e instanceof Error ? e.message : String(e)}). Use plain JSON data.`,
      {
        details: { agentId: id, field },
        cause: e,
      },
    )
  }
}

/**
 * The `STORE_CONFLICT` of a fenced save that wrote nothing, from the state
 * stored for the agent (`undefined`: no such agent).
 */
export function agentConflict(
  id: string,
  transition: AgentTransitionInput,
  stored: AgentState | undefined,
): FlotillaError {
  const { from, to } = transition
  if (from === null) {
    return new FlotillaError(
      'STORE_CONFLICT',
      `Agent "${id}" already exists (${stored ?? 'just created'}); a new agent needs a new id.`,
      {
        details: { agentId: id, from, to, ...(stored === undefined ? {} : { storedState: stored }) },
      },
    )
  }
  if (stored === undefined) {
    return new FlotillaError(
      'STORE_CONFLICT',
      `No agent "${id}" in the store to move from ${from} to ${to}; insert it first (transition.from = null).`,
      { details: { agentId: id, from, to } },
    )
  }
  return new FlotillaError(
    'STORE_CONFLICT',
    `Agent "${id}" is ${stored}, not ${from}: another writer changed it first, so the transition to ${to} was not stored. Read it again.`,
    {
      details: { agentId: id, from, to, storedState: stored },
    },
  )
}

/** A row of `agents`, as the SQL adapters read it (JSON columns as text; SQL NULL means undefined). */
export interface AgentRow {
  id: string
  name: string
  version: string
  parent_id: string | null
  runtime: string
  state: string
  reason: string | null
  spec: string | null
  permissions: string | null
  limits: string | null
  pid: number | null
  created_at: number
  updated_at: number
}

/** A row of `agent_transitions`, as the SQL adapters read it. */
export interface AgentTransitionRow {
  agent_id: string
  seq: number
  from_state: string | null
  to_state: string
  reason: string | null
  at: number
}

/** The columns of {@link AgentRow}, for SELECT lists. */
export const AGENT_COLUMNS =
  'id, name, version, parent_id, runtime, state, reason, spec, permissions, limits, pid, created_at, updated_at'

/** The columns of {@link AgentTransitionRow}, for SELECT lists. */
export const AGENT_TRANSITION_COLUMNS = 'agent_id, seq, from_state, to_state, reason, at'

/** `agents.spec`: the spec as deployed. */
export const AGENT_SPEC = jsonColumn('agents.spec', orNull(isJsonObject), 'a JSON object or null')
/** `agents.permissions`: the effective permissions. */
export const AGENT_PERMISSIONS = jsonColumn('agents.permissions', orNull(isJsonArray), 'a JSON array or null')
/** `agents.limits`: the effective resource limits. */
export const AGENT_LIMITS = jsonColumn('agents.limits', orNull(isJsonObject), 'a JSON object or null')

/** An agent record from its row. */
export function agentFromRow(row: AgentRow): AgentRecord {
  return {
    id: asAgentId(row.id),
    name: row.name,
    version: row.version,
    parentId: row.parent_id === null ? null : asAgentId(row.parent_id),
    runtime: row.runtime,
    state: row.state as AgentState,
    reason: row.reason,
    spec: AGENT_SPEC.decode(row.spec, row.id),
    permissions: AGENT_PERMISSIONS.decode(row.permissions, row.id),
    limits: AGENT_LIMITS.decode(row.limits, row.id),
    pid: row.pid,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/** A transition from its row. */
export function transitionFromRow(row: AgentTransitionRow): AgentTransition {
  return {
    agentId: asAgentId(row.agent_id),
    seq: row.seq,
    from: row.from_state as AgentState | null,
    to: row.to_state as AgentState,
    reason: row.reason,
    at: row.at,
  }
}
