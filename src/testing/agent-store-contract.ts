import { beforeEach, expect, it } from 'vitest'
import { newAgentId } from '../core/ids.js'
import type { AgentState } from '../core/states.js'
import type { AgentRecord } from '../store/records.js'
import type { Store } from '../store/store.js'

const T0 = Date.UTC(2026, 0, 1)

export function agentRecord(extra: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id: newAgentId(),
    name: 'scanner',
    version: '1.0.0',
    parentId: null,
    runtime: 'inprocess',
    state: 'PENDING',
    reason: null,
    spec: { name: 'scanner', version: '1.0.0', tools: ['read'], model: { temperature: 0.2 } },
    permissions: [{ resource: 'files/**', actions: ['read'] }],
    limits: { maxConcurrent: 2, memoryMb: 256 },
    pid: null,
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  }
}

/** The transition argument of a save. */
export function move(
  from: AgentState | null,
  to: AgentState,
  at: number,
  reason: string | null = null,
): { from: AgentState | null; to: AgentState; reason: string | null; at: number } {
  return { from, to, reason, at }
}

/**
 * The agent records part of {@link storeContract}: saves with their
 * transitions, listing, the tree, pruning and races between two handles.
 * Called inside its `describe`; `current` gives the store of the test.
 */
export function agentStoreContract(init: { openPeer?(store: Store): Promise<Store> }, current: () => Store): void {
  let store: Store
  beforeEach(() => {
    store = current()
  })

  /** Inserts an agent, then walks it through `path` (from PENDING), each step 10 ms later. */
  async function deploy(extra: Partial<AgentRecord> = {}, path: readonly AgentState[] = []): Promise<AgentRecord> {
    let record = agentRecord(extra)
    await store.saveAgent(record, move(null, record.state, record.updatedAt))
    for (const to of path) {
      const next: AgentRecord = { ...record, state: to, updatedAt: record.updatedAt + 10 }
      await store.saveAgent(next, move(record.state, to, next.updatedAt))
      record = next
    }
    return record
  }

  it('inserts an agent and reads it back with its first transition', async () => {
    const record = agentRecord({ parentId: newAgentId(), reason: 'deployed by cli', pid: 4242, runtime: 'process' })
    await store.saveAgent(record, move(null, 'PENDING', T0 + 1, 'deployed by cli'))
    expect(await store.getAgent(record.id)).toEqual(record)
    expect(await store.listAgentTransitions(record.id)).toEqual([
      { agentId: record.id, seq: 1, from: null, to: 'PENDING', reason: 'deployed by cli', at: T0 + 1 },
    ])
    expect(await store.getAgent(newAgentId())).toBeUndefined()
    expect(await store.listAgentTransitions(newAgentId())).toEqual([])
  })

  it("updates an agent whose stored state is the transition's from, numbering its transitions 1..n and keeping createdAt", async () => {
    const first = agentRecord()
    await store.saveAgent(first, move(null, 'PENDING', T0))
    const steps: [AgentState, string | null][] = [
      ['RUNNING', null],
      ['PAUSED', 'paused by operator'],
      ['RUNNING', null],
      ['FAILED', 'out of memory'],
      ['PENDING', 'restart'],
      ['RUNNING', null],
      ['TERMINATED', 'terminated by parent'],
    ]
    let from: AgentState = 'PENDING'
    for (let i = 0; i < steps.length; i++) {
      const [to, reason] = steps[i]
      const next: AgentRecord = {
        ...first,
        state: to,
        reason,
        pid: to === 'RUNNING' ? 1000 + i : null,
        limits: { step: i },
        updatedAt: T0 + 10 * (i + 1),
        createdAt: T0 + 999,
      }
      await store.saveAgent(next, move(from, to, T0 + 10 * (i + 1), reason))
      expect(await store.getAgent(first.id)).toEqual({ ...next, createdAt: T0 })
      from = to
    }
    const transitions = await store.listAgentTransitions(first.id)
    expect(transitions.map((t) => t.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(transitions.map((t) => [t.from, t.to])).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'RUNNING'],
      ['RUNNING', 'PAUSED'],
      ['PAUSED', 'RUNNING'],
      ['RUNNING', 'FAILED'],
      ['FAILED', 'PENDING'],
      ['PENDING', 'RUNNING'],
      ['RUNNING', 'TERMINATED'],
    ])
    expect(transitions[4]).toEqual({
      agentId: first.id,
      seq: 5,
      from: 'RUNNING',
      to: 'FAILED',
      reason: 'out of memory',
      at: T0 + 40,
    })
  })

  it('refuses a stale from with STORE_CONFLICT, changing neither the record nor its transitions', async () => {
    const running = await deploy({}, ['RUNNING'])
    const before = await store.listAgentTransitions(running.id)
    const stale: AgentRecord = { ...running, state: 'TERMINATED', reason: 'late', updatedAt: T0 + 500 }
    await expect(store.saveAgent(stale, move('PENDING', 'TERMINATED', T0 + 500, 'late'))).rejects.toMatchObject({
      code: 'STORE_CONFLICT',
      details: { agentId: running.id, storedState: 'RUNNING' },
    })
    await expect(
      store.saveAgent({ ...running, state: 'RUNNING' }, move('PAUSED', 'RUNNING', T0 + 500)),
    ).rejects.toMatchObject({ code: 'STORE_CONFLICT' })
    expect(await store.getAgent(running.id)).toEqual(running)
    expect(await store.listAgentTransitions(running.id)).toEqual(before)
    // The right from still works, and numbering continues without a gap.
    await store.saveAgent(stale, move('RUNNING', 'TERMINATED', T0 + 500, 'late'))
    expect((await store.listAgentTransitions(running.id)).map((t) => t.seq)).toEqual([1, 2, 3])
  })

  it('refuses to insert an existing id with STORE_CONFLICT, changing nothing', async () => {
    const agent = await deploy({}, ['RUNNING'])
    await expect(
      store.saveAgent({ ...agent, name: 'impostor', state: 'PENDING' }, move(null, 'PENDING', T0 + 99)),
    ).rejects.toMatchObject({ code: 'STORE_CONFLICT', details: { agentId: agent.id } })
    expect(await store.getAgent(agent.id)).toEqual(agent)
    expect(await store.listAgentTransitions(agent.id)).toHaveLength(2)
  })

  it('refuses to update an unknown id with STORE_CONFLICT, creating nothing', async () => {
    const ghost = agentRecord({ state: 'RUNNING' })
    await expect(store.saveAgent(ghost, move('PENDING', 'RUNNING', T0))).rejects.toMatchObject({
      code: 'STORE_CONFLICT',
      details: { agentId: ghost.id },
    })
    expect(await store.getAgent(ghost.id)).toBeUndefined()
    expect(await store.listAgentTransitions(ghost.id)).toEqual([])
    expect(await store.listAgents()).toEqual([])
  })

  it("refuses a record whose state is not the transition's to, or whose fields are not JSON, with VALIDATION_FAILED, writing nothing", async () => {
    const fresh = agentRecord({ state: 'RUNNING' })
    await expect(store.saveAgent(fresh, move(null, 'PENDING', T0))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    expect(await store.getAgent(fresh.id)).toBeUndefined()
    const agent = await deploy()
    await expect(
      store.saveAgent({ ...agent, state: 'PAUSED' }, move('PENDING', 'RUNNING', T0 + 5)),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    await expect(
      store.saveAgent({ ...agent, state: 'RUNNING', spec: { n: 1n } }, move('PENDING', 'RUNNING', T0 + 5)),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'spec' } })
    expect(await store.getAgent(agent.id)).toEqual(agent)
    expect(await store.listAgentTransitions(agent.id)).toHaveLength(1)
  })

  it('lists agents oldest first (createdAt, then id), filtered by parent, states and name', async () => {
    const root1 = await deploy({ createdAt: T0 + 30 }, ['RUNNING'])
    const root2 = await deploy({ createdAt: T0 + 10, name: 'writer' })
    const children = [
      await deploy({ parentId: root2.id, createdAt: T0 + 20 }, ['RUNNING', 'FAILED']),
      await deploy({ parentId: root2.id, createdAt: T0 + 20 }, ['RUNNING', 'TERMINATED']),
    ]
    children.sort((a, b) => (a.id < b.id ? -1 : 1))
    const grandchild = await deploy({ parentId: children[0].id, createdAt: T0 + 5, name: 'writer' }, [
      'RUNNING',
      'PAUSED',
    ])
    const ids = (agents: AgentRecord[]): string[] => agents.map((a) => a.id)

    expect(await store.listAgents()).toEqual([grandchild, root2, ...children, root1])
    expect(ids(await store.listAgents({}))).toEqual(ids([grandchild, root2, ...children, root1]))
    expect(ids(await store.listAgents({ parentId: null }))).toEqual([root2.id, root1.id])
    expect(ids(await store.listAgents({ parentId: root2.id }))).toEqual(ids(children))
    expect(ids(await store.listAgents({ parentId: children[0].id }))).toEqual([grandchild.id])
    expect(await store.listAgents({ parentId: newAgentId() })).toEqual([])
    expect(ids(await store.listAgents({ states: ['RUNNING'] }))).toEqual([root1.id])
    expect(ids(await store.listAgents({ states: ['PENDING', 'PAUSED', 'TERMINATED'] }))).toEqual(
      ids([grandchild, root2, ...children.filter((c) => c.state === 'TERMINATED')]),
    )
    expect(await store.listAgents({ states: [] })).toEqual([])
    expect(ids(await store.listAgents({ name: 'writer' }))).toEqual([grandchild.id, root2.id])
    expect(ids(await store.listAgents({ name: 'writer', parentId: null }))).toEqual([root2.id])
    expect(ids(await store.listAgents({ name: 'writer', states: ['PAUSED'], parentId: children[0].id }))).toEqual([
      grandchild.id,
    ])
    expect(await store.listAgents({ name: 'nobody' })).toEqual([])
  })

  it('round-trips the JSON fields: null stays null, undefined stays undefined, nested and unicode values are kept', async () => {
    const spec = {
      name: 'ü-agent 🚀',
      nested: { list: [1, null, [2, { x: 'y' }]], empty: {}, t: true },
      big: 2 ** 53 - 1,
    }
    const agent = await deploy({ spec, permissions: null, limits: undefined })
    const stored = await store.getAgent(agent.id)
    expect(stored?.spec).toEqual(spec)
    expect(stored?.permissions).toBeNull()
    expect(stored?.limits).toBeUndefined()
    expect((await store.listAgents())[0]).toEqual(stored)
  })

  it('returns copies, and keeps what was saved when the caller mutates its objects', async () => {
    const agent = agentRecord()
    await store.saveAgent(agent, move(null, 'PENDING', T0))
    ;(agent.spec as { tools: string[] }).tools.push('write')
    agent.name = 'mutated'
    const read = (await store.getAgent(agent.id))!
    expect(read).toMatchObject({ name: 'scanner', spec: { tools: ['read'] } })
    ;(read.spec as { tools: string[] }).tools.push('delete')
    ;(read.limits as { memoryMb: number }).memoryMb = 1
    read.state = 'TERMINATED'
    const listed = await store.listAgents()
    ;(listed[0].permissions as unknown[]).length = 0
    const transitions = await store.listAgentTransitions(agent.id)
    transitions[0].to = 'FAILED'
    transitions.push({ ...transitions[0], seq: 2 })
    expect(await store.getAgent(agent.id)).toEqual(agentRecord({ id: agent.id }))
    expect(await store.listAgentTransitions(agent.id)).toEqual([
      { agentId: agent.id, seq: 1, from: null, to: 'PENDING', reason: null, at: T0 },
    ])
  })

  it('prunes only TERMINATED agents updated before the limit, with their transitions', async () => {
    const old = await deploy({ updatedAt: T0 }, ['RUNNING', 'TERMINATED']) // updated at T0 + 20
    const recent = await deploy({ updatedAt: T0 + 10_000 }, ['TERMINATED'])
    const failed = await deploy({ updatedAt: T0 }, ['RUNNING', 'FAILED'])
    const running = await deploy({ updatedAt: T0 }, ['RUNNING'])
    expect(await store.pruneAgents(T0 + 20)).toBe(0) // strictly before
    expect(await store.pruneAgents(T0 + 5_000)).toBe(1)
    expect(await store.getAgent(old.id)).toBeUndefined()
    expect(await store.listAgentTransitions(old.id)).toEqual([])
    for (const kept of [recent, failed, running]) expect(await store.getAgent(kept.id)).toEqual(kept)
    expect(await store.listAgentTransitions(recent.id)).toHaveLength(2)
    expect(await store.pruneAgents(T0 + 5_000)).toBe(0)
    expect(await store.pruneAgents(T0 + 50_000)).toBe(1)
    expect((await store.listAgents()).map((a) => a.id)).toEqual([failed.id, running.id].sort())
  })

  it('lets exactly one of two racing saves with the same from win', async () => {
    const peer = init.openPeer ? await init.openPeer(store) : store
    try {
      for (let round = 0; round < 10; round++) {
        // Racing inserts of one id.
        const record = agentRecord({ createdAt: T0 + round })
        const inserts = await Promise.allSettled([
          store.saveAgent(record, move(null, 'PENDING', T0)),
          peer.saveAgent({ ...record, name: 'other' }, move(null, 'PENDING', T0)),
        ])
        expect(inserts.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        expect(inserts.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'STORE_CONFLICT' } })
        const inserted = (await peer.getAgent(record.id))!
        // Racing transitions from PENDING.
        const a: AgentRecord = { ...inserted, state: 'RUNNING', reason: 'a', updatedAt: T0 + 1 }
        const b: AgentRecord = { ...inserted, state: 'TERMINATED', reason: 'b', updatedAt: T0 + 2 }
        const saves = await Promise.allSettled([
          store.saveAgent(a, move('PENDING', 'RUNNING', T0 + 1, 'a')),
          peer.saveAgent(b, move('PENDING', 'TERMINATED', T0 + 2, 'b')),
        ])
        expect(saves.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        const won = saves[0].status === 'fulfilled' ? a : b
        expect((saves[won === a ? 1 : 0] as PromiseRejectedResult).reason).toMatchObject({
          code: 'STORE_CONFLICT',
          details: { storedState: won.state },
        })
        expect(await store.getAgent(record.id)).toEqual(won)
        expect((await peer.listAgentTransitions(record.id)).map((t) => [t.seq, t.from, t.to, t.reason])).toEqual([
          [1, null, 'PENDING', null],
          [2, 'PENDING', won.state, won.reason],
        ])
      }
    } finally {
      if (peer !== store) await peer.close()
    }
  })
}
