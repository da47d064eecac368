import { describe, expect, it } from 'vitest'
import { ExecutionHistory, type ExecutionRecord } from '../../../src/registry/health/history.js'
import { agentGraph, type GraphWorkflow } from '../../../src/registry/health/agent-graph.js'
import { codeOf } from '../helpers.js'

function exec(i: number, ok = true): ExecutionRecord {
  return ok
    ? { runId: 'run_1', taskId: `t${i}`, attempt: 1, startedAt: 1_000 + i, durationMs: i, ok }
    : {
        runId: 'run_1',
        taskId: `t${i}`,
        attempt: 2,
        startedAt: 1_000 + i,
        durationMs: i,
        ok,
        errorCode: 'TASK_TIMEOUT',
      }
}

describe('ExecutionHistory', () => {
  it('keeps the newest executions per agent, newest first', () => {
    const h = new ExecutionHistory()
    h.record('scanner', exec(1))
    h.record('scanner', exec(2, false))
    h.record('fixer', exec(3))
    expect(h.recent('scanner')).toEqual([exec(2, false), exec(1)])
    expect(h.recent('scanner', 1)).toEqual([exec(2, false)])
    expect(h.recent('fixer', 10)).toEqual([exec(3)])
    expect(h.recent('nobody')).toEqual([])
    expect(h.recent('scanner', 0)).toEqual([])
    expect(h.agents()).toEqual(['scanner', 'fixer'])
  })

  it('is bounded: 100 per agent by default, dropping the oldest', () => {
    const h = new ExecutionHistory()
    expect(h.capacity).toBe(100)
    for (let i = 0; i < 250; i++) h.record('a', exec(i))
    const all = h.recent('a', 1_000)
    expect(all).toHaveLength(100)
    expect(all[0].taskId).toBe('t249')
    expect(all[99].taskId).toBe('t150')
  })

  it('honours a custom capacity across wrap-around', () => {
    const h = new ExecutionHistory({ capacity: 3 })
    for (let i = 0; i < 7; i++) h.record('a', exec(i))
    expect(h.recent('a').map((e) => e.taskId)).toEqual(['t6', 't5', 't4'])
    expect(h.recent('a', 2).map((e) => e.taskId)).toEqual(['t6', 't5'])
  })

  it('returns copies and can be cleared', () => {
    const h = new ExecutionHistory()
    h.record('a', exec(1))
    h.record('b', exec(2))
    h.recent('a')[0].ok = false
    expect(h.recent('a')[0].ok).toBe(true)
    h.clear('a')
    expect(h.agents()).toEqual(['b'])
    h.clear()
    expect(h.agents()).toEqual([])
  })

  it('refuses a bad capacity with VALIDATION_FAILED', async () => {
    expect(await codeOf(() => new ExecutionHistory({ capacity: 0 }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => new ExecutionHistory({ capacity: 2.5 }))).toBe('VALIDATION_FAILED')
  })
})

function wf(name: string, tasks: [GraphWorkflow['tasks'][number]['selector'], number[]][]): GraphWorkflow {
  return { name, tasks: tasks.map(([selector, deps]) => ({ selector, deps: Int32Array.from(deps) })) }
}

describe('agentGraph', () => {
  it('lists agents and counts which feed which, over several workflows', () => {
    const scanAndFix = wf('scan_and_fix', [
      [{ agent: 'scanner' }, []],
      [{ capability: 'fix' }, [0]],
      [{ agent: 'reporter' }, [0, 1]],
    ])
    const twice = wf('twice', [
      [{ agent: 'scanner' }, []],
      [{ agent: 'scanner' }, [0]],
      [{ agent: 'reporter', version: '2.0.0' }, [1]],
      [{ capability: 'fix' }, [0]],
    ])
    expect(agentGraph([scanAndFix, twice])).toEqual({
      nodes: [
        { id: 'scanner', kind: 'agent', tasks: 3 },
        { id: 'capability:fix', kind: 'capability', tasks: 2 },
        { id: 'reporter', kind: 'agent', tasks: 1 },
        { id: 'reporter@2.0.0', kind: 'agent', tasks: 1 },
      ],
      edges: [
        { from: 'scanner', to: 'capability:fix', count: 2 },
        { from: 'scanner', to: 'reporter', count: 1 },
        { from: 'capability:fix', to: 'reporter', count: 1 },
        { from: 'scanner', to: 'scanner', count: 1 },
        { from: 'scanner', to: 'reporter@2.0.0', count: 1 },
      ],
    })
  })

  it('is empty for no workflows and JSON-safe', () => {
    expect(agentGraph([])).toEqual({ nodes: [], edges: [] })
    const g = agentGraph([wf('one', [[{ agent: 'solo' }, []]])])
    expect(JSON.parse(JSON.stringify(g))).toEqual(g)
  })
})
