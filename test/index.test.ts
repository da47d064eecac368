import { describe, expect, it } from 'vitest'

// The public surface is a decision: a change to these lists must be deliberate
// (add the export to src/index.ts or src/testing.ts AND here, with TSDoc).
const INDEX_EXPORTS = [
  'AGENT_STATES',
  'ALERT_DELIVERY_HEADER',
  'ALERT_SIGNATURE_HEADER',
  'ALERT_TIMESTAMP_HEADER',
  'AgentMetrics',
  'AgentTemplates',
  'AlertMonitor',
  'AnomalyDetector',
  'Authorizer',
  'Autoscaler',
  'CircuitBreaker',
  'Client',
  'ContextStore',
  'DEFAULT_AGENT_PATTERN',
  'DEFAULT_PRICES',
  'DEFAULT_RETRY_POLICY',
  'DEFAULT_STORE_PATH',
  'DEFAULT_WORKFLOW_PATTERN',
  'ERROR_CODES',
  'ExecutionHistory',
  'FlotillaError',
  'HealthMonitor',
  'JSON_MAX_DEPTH',
  'LOAD_BALANCING_STRATEGIES',
  'NO_GRANT',
  'Orchestrator',
  'PRICES_AS_OF',
  'PRIORITIES',
  'PermissionSet',
  'RUN_STATES',
  'Registry',
  'RunResult',
  'TASK_STATES',
  'Worker',
  'WorkflowBuilder',
  'agentGraph',
  'agentSpecSchema',
  'asAgentId',
  'asRunId',
  'asTaskId',
  'checkJsonValue',
  'checkRange',
  'childWorkflow',
  'compileWorkflow',
  'costOf',
  'createDeadline',
  'decideScaling',
  'defineAgent',
  'defineAgentTemplate',
  'defineLlmAgent',
  'definePlannerAgent',
  'defineTool',
  'deserializeError',
  'discoverAgents',
  'discoverWorkflows',
  'findJsonProblem',
  'globCovers',
  'inheritPermissions',
  'inputRef',
  'isAgentDefinition',
  'isAgentTemplate',
  'isChildPlan',
  'isErrorCode',
  'isFinalRunState',
  'isFinalTaskState',
  'isFlotillaError',
  'isRunEvent',
  'isToolDefinition',
  'limitProvider',
  'loadAgentSpec',
  'loadAlertsFile',
  'loadWorkflowFile',
  'maxSatisfying',
  'newAgentId',
  'newRunId',
  'nonRetryable',
  'openBackend',
  'openContextStore',
  'openStore',
  'openStoreAsync',
  'otlpTracesEndpoint',
  'otlpTracing',
  'parseAgentSpec',
  'parseAlertsConfig',
  'parsePermissions',
  'parseStoreSpec',
  'parseTraceparent',
  'parseWorkflow',
  'permissionDenied',
  'pinPools',
  'planSchema',
  'priceOf',
  'prometheusMeter',
  'providerNames',
  'ref',
  'registerProvider',
  'resolveModel',
  'resolveRetryPolicy',
  'resolveScaling',
  'resolveVersion',
  'resourceLimitsSchema',
  'resourceName',
  'satisfies',
  'serializeError',
  'signAlertBody',
  'systemClock',
  'tallyVotes',
  'taskSpecSchema',
  'toFlotillaError',
  'traceContextOf',
  'traceparentOf',
  'validateWorkflowSpec',
  'verifyAlertSignature',
  'watchAgents',
  'workflow',
  'workflowJsonSchema',
  'workflowSpecSchema',
]

const TESTING_EXPORTS = [
  'FakeClock',
  'MemoryAuditLogStore',
  'MemoryBus',
  'MemoryContextBackend',
  'MemorySecurityStore',
  'MemoryStore',
  'recordModel',
  'replayModel',
  'scriptedModel',
]
const CONTRACTS_EXPORTS = [
  'auditLogContract',
  'busContract',
  'contextContract',
  'queueContract',
  'securityStoreContract',
  'storeContract',
  'storeTailContract',
]
const SQLITE_EXPORTS = ['SqliteAuditLogStore', 'SqliteContextBackend', 'SqliteSecurityStore', 'SqliteStore']
const SERVER_EXPORTS = [
  'API_BASE',
  'API_ROUTES',
  'WorkflowCatalog',
  'createApiApp',
  'hostAgents',
  'openApiDocument',
  'requiredGrant',
  'startServer',
]
const CLIENT_EXPORTS = ['createApiClient', 'unwrap']
const PROCESS_EXPORTS = [
  'AgentRunner',
  'AgentSupervisor',
  'FolderWorkspace',
  'InProcessRuntime',
  'ProcessRuntime',
  'canTransition',
]
const KUBERNETES_EXPORTS = [
  'KubernetesRuntime',
  'LABELS',
  'agentPod',
  'clientNodeApi',
  'kubeError',
  'podNameOf',
  'resourcesOf',
  'serveAgentHttp',
  'viewPod',
]

describe('public API', () => {
  it('pins the runtime exports of flotilla', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual(INDEX_EXPORTS)
  })

  it('pins the runtime exports of flotilla/testing', async () => {
    expect(Object.keys(await import('../src/testing.js')).sort()).toEqual(TESTING_EXPORTS)
  })

  it('pins the runtime exports of flotilla/sqlite and flotilla/process', async () => {
    expect(Object.keys(await import('../src/sqlite.js')).sort()).toEqual(SQLITE_EXPORTS)
    expect(Object.keys(await import('../src/process.js')).sort()).toEqual(PROCESS_EXPORTS)
    expect(Object.keys(await import('../src/testing-contracts.js')).sort()).toEqual(CONTRACTS_EXPORTS)
    expect(Object.keys(await import('../src/server.js')).sort()).toEqual(SERVER_EXPORTS)
    expect(Object.keys(await import('../src/client.js')).sort()).toEqual(CLIENT_EXPORTS)
    expect(Object.keys(await import('../src/kubernetes.js')).sort()).toEqual(KUBERNETES_EXPORTS)
  })

  it('exports no undefined values', async () => {
    for (const mod of [
      await import('../src/index.js'),
      await import('../src/testing.js'),
      await import('../src/sqlite.js'),
      await import('../src/process.js'),
      await import('../src/kubernetes.js'),
    ]) {
      for (const [name, value] of Object.entries(mod)) expect(value, name).toBeDefined()
    }
  })
})
