import type { AgentState } from '../../core/states.js'
import {
  AGENT_COLUMNS,
  AGENT_TRANSITION_COLUMNS,
  agentConflict,
  agentFromRow,
  checkAgentSave,
  transitionFromRow,
  type AgentRow,
  type AgentTransitionInput,
  type AgentTransitionRow,
} from '../agents.js'
import type { AgentFilter, AgentRecord, AgentTransition } from '../records.js'

/** Runs one named statement and returns its rows, errors mapped to the port's codes (the store's `query`). */
export type AgentQuery = <R>(name: string, text: string, values: unknown[]) => Promise<R[]>

interface AgentStatements {
  insert: string
  update: string
  state: string
  get: string
  list: string
  transitions: string
  prune: string
}

/** The statements for the quoted schema `s`. */
function statements(s: string): AgentStatements {
  const transition = (from: string): string => `
    INSERT INTO ${s}.agent_transitions (${AGENT_TRANSITION_COLUMNS})
    SELECT a.id, a.transition_count, ${from}, a.state, $14::text, $15::double precision FROM a RETURNING seq`
  return {
    // A new id, else nothing (a concurrent insert of the same id waits for the first one's commit, then inserts nothing).
    insert: `WITH a AS (
      INSERT INTO ${s}.agents (${AGENT_COLUMNS}, transition_count)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9::json, $10::json, $11, $12, $13, 1)
      ON CONFLICT (id) DO NOTHING RETURNING id, state, transition_count
    )${transition('NULL::text')}`,
    // Fenced by the stored state; a concurrent save of the same agent waits for the row lock, then re-checks the state.
    update: `WITH a AS (
      UPDATE ${s}.agents SET name = $2, version = $3, parent_id = $4, runtime = $5, state = $6, reason = $7,
          spec = $8::json, permissions = $9::json, limits = $10::json, pid = $11, updated_at = $13, transition_count = transition_count + 1
        WHERE id = $1 AND state = $12
        RETURNING id, state, transition_count
    )${transition('$12::text')}`,
    state: `SELECT state FROM ${s}.agents WHERE id = $1`,
    get: `SELECT ${AGENT_COLUMNS} FROM ${s}.agents WHERE id = $1`,
    list: `SELECT ${AGENT_COLUMNS} FROM ${s}.agents
      WHERE (NOT $1::boolean OR ($2::text IS NULL AND parent_id IS NULL) OR parent_id = $2)
        AND ($3::text[] IS NULL OR state = ANY ($3)) AND ($4::text IS NULL OR name = $4)
      ORDER BY created_at, id`,
    transitions: `SELECT ${AGENT_TRANSITION_COLUMNS} FROM ${s}.agent_transitions WHERE agent_id = $1 ORDER BY seq`,
    prune: `WITH gone AS (DELETE FROM ${s}.agents WHERE state = 'TERMINATED' AND updated_at < $1 RETURNING 1) SELECT count(*)::integer AS n FROM gone`,
  }
}

/**
 * The agent records of a {@link PostgresStore} (tables `agents` and
 * `agent_transitions`, migration 2). A save is one statement, so one
 * transaction and one round trip: the fenced `UPDATE … WHERE id = $1 AND
 * state = $12` (or an insert of a new id) and the transition row, numbered
 * by the agent's `transition_count`.
 */
export class PostgresAgents {
  private readonly sql: AgentStatements

  /** `schema` is quoted already. */
  constructor(
    schema: string,
    private readonly query: AgentQuery,
  ) {
    this.sql = statements(schema)
  }

  /** {@link AgentStore.saveAgent} */
  async save(record: AgentRecord, transition: AgentTransitionInput): Promise<void> {
    const e = checkAgentSave(record, transition)
    const r = e.record
    const fields = [
      r.id,
      r.name,
      r.version,
      r.parentId,
      r.runtime,
      r.state,
      r.reason,
      e.spec,
      e.permissions,
      e.limits,
      r.pid,
    ]
    const rows =
      transition.from === null
        ? await this.query<{ seq: number }>('flotilla_insert_agent', this.sql.insert, [
            ...fields,
            r.createdAt,
            r.updatedAt,
            transition.reason,
            transition.at,
          ])
        : await this.query<{ seq: number }>('flotilla_update_agent', this.sql.update, [
            ...fields,
            transition.from,
            r.updatedAt,
            transition.reason,
            transition.at,
          ])
    if (rows.length === 1) return
    const stored = await this.query<{ state: AgentState }>('flotilla_agent_state', this.sql.state, [r.id])
    throw agentConflict(r.id, transition, stored[0]?.state)
  }

  /** {@link AgentStore.getAgent} */
  async find(id: string): Promise<AgentRecord | undefined> {
    const rows = await this.query<AgentRow>('flotilla_get_agent', this.sql.get, [id])
    return rows.length === 0 ? undefined : agentFromRow(rows[0])
  }

  /** {@link AgentStore.listAgents} */
  async list(filter: AgentFilter = {}): Promise<AgentRecord[]> {
    if (filter.states !== undefined && filter.states.length === 0) return []
    const rows = await this.query<AgentRow>('flotilla_list_agents', this.sql.list, [
      filter.parentId !== undefined,
      filter.parentId ?? null,
      filter.states === undefined ? null : [...filter.states],
      filter.name ?? null,
    ])
    return rows.map(agentFromRow)
  }

  /** {@link AgentStore.listAgentTransitions} */
  async transitions(agentId: string): Promise<AgentTransition[]> {
    const rows = await this.query<AgentTransitionRow>('flotilla_agent_transitions', this.sql.transitions, [agentId])
    return rows.map(transitionFromRow)
  }

  /** {@link AgentStore.pruneAgents}; their transitions go with them (`ON DELETE CASCADE`). */
  async prune(before: number): Promise<number> {
    if (Number.isNaN(before)) return 0 // nothing was updated before NaN (PostgreSQL would sort NaN above every number)
    const rows = await this.query<{ n: number }>('flotilla_prune_agents', this.sql.prune, [before])
    return rows[0].n
  }
}
