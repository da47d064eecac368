import { describe, expect, it } from 'vitest'

// The public surface is a decision: a change to these lists must be deliberate
// (add the export to src/index.ts or src/testing.ts AND here, with TSDoc).
const INDEX_EXPORTS = [
  'AGENT_STATES',
  'AgentInstance',
  'AgentMetrics',
  'AgentPool',
  'AgentRunner',
  'AgentSupervisor',
  'AnomalyDetector',
  'CircuitBreaker',
  'Client',
  'ContextStore',
  'DEFAULT_AGENT_PATTERN',
  'DEFAULT_RETRY_POLICY',
  'DEFAULT_STORE_PATH',
  'DEFAULT_WORKFLOW_PATTERN',
  'ERROR_CODES',
  'ExecutionHistory',
  'FlotillaError',
  'FolderWorkspace',
  'HealthMonitor',
  'InProcessRuntime',
  'JSON_MAX_DEPTH',
  'LOAD_BALANCING_STRATEGIES',
  'LazyStore',
  'MemoryBus',
  'MemoryContextBackend',
  'MemoryStore',
  'NO_GRANT',
  'Orchestrator',
  'PRIORITIES',
  'PermissionSet',
  'ProcessRuntime',
  'RUN_STATES',
  'Registry',
  'RunResult',
  'SqliteContextBackend',
  'SqliteStore',
  'TASK_STATES',
  'Worker',
  'WorkflowBuilder',
  'agentGraph',
  'agentSpecSchema',
  'asAgentId',
  'asRunId',
  'asTaskId',
  'backoffDelay',
  'canTransition',
  'checkJsonValue',
  'checkRange',
  'compileWorkflow',
  'createDeadline',
  'defineAgent',
  'defineTool',
  'deserializeError',
  'discoverAgents',
  'discoverWorkflows',
  'findJsonProblem',
  'globCovers',
  'inheritPermissions',
  'inputRef',
  'isAgentDefinition',
  'isErrorCode',
  'isFinalRunState',
  'isFinalTaskState',
  'isFlotillaError',
  'isToolDefinition',
  'loadAgentSpec',
  'loadWorkflowFile',
  'maxSatisfying',
  'newAgentId',
  'newRunId',
  'nonRetryable',
  'openBackend',
  'openContextStore',
  'openStore',
  'openStoreAsync',
  'parseAgentSpec',
  'parsePermissions',
  'parseStoreSpec',
  'parseWorkflow',
  'permissionDenied',
  'pinPools',
  'ref',
  'resolveRetryPolicy',
  'resolveVersion',
  'resourceLimitsSchema',
  'satisfies',
  'serializeError',
  'shouldRetry',
  'systemClock',
  'tallyVotes',
  'taskSpecSchema',
  'toFlotillaError',
  'validateWorkflowSpec',
  'watchAgents',
  'workflow',
  'workflowJsonSchema',
  'workflowSpecSchema',
]

const TESTING_EXPORTS = ['FakeClock', 'MemoryContextBackend', 'MemoryStore']

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
