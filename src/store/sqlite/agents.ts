import type Database from 'better-sqlite3'
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
import type { SqlValue } from './codec.js'

type Statement<Row = unknown> = Database.Statement<SqlValue[], Row>

/**
 * The agent records of a {@link SqliteStore} (tables `agents` and
 * `agent_transitions`, migration 2). A save is one immediate transaction:
 * the fenced `UPDATE … WHERE id = ? AND state = ?` (or an insert of a new id)
 * and the transition row numbered after the agent's last one. Errors are
 * left to the store to map.
 */
export class SqliteAgents {
  private readonly insert: Statement
  private readonly update: Statement
  private readonly state: Statement<{ state: AgentState }>
  private readonly nextSeq: Statement<{ seq: number }>
  private readonly addTransition: Statement
  private readonly get: Statement<AgentRow>
  private readonly listTransitions: Statement<AgentTransitionRow>
  private readonly pruneStatement: Statement
  private readonly lists = new Map<string, Statement<AgentRow>>()
  /** Saves one transition atomically; throws `STORE_CONFLICT` / `VALIDATION_FAILED` and writes nothing. */
  readonly save: (record: AgentRecord, transition: AgentTransitionInput) => void

  constructor(private readonly db: Database.Database) {
    const p = <Row = unknown>(sql: string): Statement<Row> => db.prepare<SqlValue[], Row>(sql)
    this.insert = p(
      `INSERT INTO agents (${AGENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    )
    this.update =
      p(`UPDATE agents SET name = ?, version = ?, parent_id = ?, runtime = ?, state = ?, reason = ?, spec = ?, permissions = ?, limits = ?, pid = ?, updated_at = ?
      WHERE id = ? AND state = ?`)
    this.state = p('SELECT state FROM agents WHERE id = ?')
    this.nextSeq = p('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM agent_transitions WHERE agent_id = ?')
    this.addTransition = p(`INSERT INTO agent_transitions (${AGENT_TRANSITION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`)
    this.get = p(`SELECT ${AGENT_COLUMNS} FROM agents WHERE id = ?`)
    this.listTransitions = p(
      `SELECT ${AGENT_TRANSITION_COLUMNS} FROM agent_transitions WHERE agent_id = ? ORDER BY seq`,
    )
    this.pruneStatement = p("DELETE FROM agents WHERE state = 'TERMINATED' AND updated_at < ?")
    this.save = db.transaction((record: AgentRecord, transition: AgentTransitionInput) => {
      const e = checkAgentSave(record, transition)
      const r = e.record
      const changed =
        transition.from === null
          ? this.insert.run(
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
              r.createdAt,
              r.updatedAt,
            ).changes
          : this.update.run(
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
              r.updatedAt,
              r.id,
              transition.from,
            ).changes
      if (changed !== 1) throw agentConflict(r.id, transition, this.state.get(r.id)?.state)
      const seq = transition.from === null ? 1 : this.nextSeq.get(r.id)!.seq
      this.addTransition.run(r.id, seq, transition.from, transition.to, transition.reason, transition.at)
    }).immediate
  }

  /** {@link AgentStore.getAgent} */
  find(id: string): AgentRecord | undefined {
    const row = this.get.get(id)
    return row && agentFromRow(row)
  }

  /** {@link AgentStore.listAgents} */
  list(filter: AgentFilter = {}): AgentRecord[] {
    const where: string[] = []
    const params: SqlValue[] = []
    if (filter.parentId === null) where.push('parent_id IS NULL')
    else if (filter.parentId !== undefined) {
      where.push('parent_id = ?')
      params.push(filter.parentId)
    }
    if (filter.states !== undefined) {
      if (filter.states.length === 0) return []
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`)
      params.push(...filter.states)
    }
    if (filter.name !== undefined) {
      where.push('name = ?')
      params.push(filter.name)
    }
    const sql = `SELECT ${AGENT_COLUMNS} FROM agents${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`
    let statement = this.lists.get(sql)
    if (statement === undefined) this.lists.set(sql, (statement = this.db.prepare<SqlValue[], AgentRow>(sql)))
    return statement.all(...params).map(agentFromRow)
  }

  /** {@link AgentStore.listAgentTransitions} */
  transitions(agentId: string): AgentTransition[] {
    return this.listTransitions.all(agentId).map(transitionFromRow)
  }

  /** {@link AgentStore.pruneAgents}; their transitions go with them (`ON DELETE CASCADE`). */
  prune(before: number): number {
    return this.pruneStatement.run(before).changes
  }
}
