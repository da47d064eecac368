import { describe, expect, it } from 'vitest'

// The public surface is a decision: a change to these lists must be deliberate
// (add the export to src/index.ts or src/testing.ts AND here, with TSDoc).
const INDEX_EXPORTS = [
  'AgentInstance',
  'AgentMetrics',
  'AgentPool',
  'AnomalyDetector',
  'CircuitBreaker',
  'DEFAULT_AGENT_PATTERN',
  'DEFAULT_RETRY_POLICY',
  'DEFAULT_STORE_PATH',
  'DEFAULT_WORKFLOW_PATTERN',
  'ERROR_CODES',
  'ExecutionHistory',
  'FlotillaError',
  'HealthMonitor',
  'LOAD_BALANCING_STRATEGIES',
  'MemoryBus',
  'MemoryStore',
  'Orchestrator',
  'PRIORITIES',
  'RUN_STATES',
  'Registry',
  'RunResult',
  'SqliteStore',
  'TASK_STATES',
  'WorkflowBuilder',
  'agentGraph',
  'asAgentId',
  'asRunId',
  'asTaskId',
  'backoffDelay',
  'checkRange',
  'compileWorkflow',
  'createDeadline',
  'defineAgent',
  'deserializeError',
  'discoverAgents',
  'discoverWorkflows',
  'inputRef',
  'isAgentDefinition',
  'isErrorCode',
  'isFinalRunState',
  'isFinalTaskState',
  'isFlotillaError',
  'loadWorkflowFile',
  'maxSatisfying',
  'newAgentId',
  'newRunId',
  'nonRetryable',
  'openStore',
  'openStoreAsync',
  'parseStoreSpec',
  'parseWorkflow',
  'ref',
  'resolveRetryPolicy',
  'resolveVersion',
  'satisfies',
  'serializeError',
  'shouldRetry',
  'systemClock',
  'tallyVotes',
  'taskSpecSchema',
  'toFlotillaError',
  'watchAgents',
  'workflow',
  'workflowJsonSchema',
  'workflowSpecSchema',
]

const TESTING_EXPORTS = ['FakeClock', 'MemoryStore']

describe('public API', () => {
  it('pins the runtime exports of flotilla', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual(INDEX_EXPORTS)
  })

  it('pins the runtime exports of flotilla/testing', async () => {
    expect(Object.keys(await import('../src/testing.js')).sort()).toEqual(TESTING_EXPORTS)
  })

  it('exports no undefined values', async () => {
    for (const mod of [await import('../src/index.js'), await import('../src/testing.js')]) {
      for (const [name, value] of Object.entries(mod)) expect(value, name).toBeDefined()
    }
  })

  it('shares one MemoryStore between flotilla and flotilla/testing', async () => {
    expect((await import('../src/testing.js')).MemoryStore).toBe((await import('../src/index.js')).MemoryStore)
  })
})
