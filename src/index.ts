/**
 * Flotilla: run teams of AI agents. The public API users write code
 * against; every export is named here (test/index.test.ts pins the list).
 * Adapters live on subpaths: `flotilla/sqlite`, `flotilla/postgres`,
 * `flotilla/process` (runtimes and the agent runner); in-memory adapters,
 * FakeClock and the ports' contract suites on `flotilla/testing`.
 *
 * @packageDocumentation
 */
export {
  ERROR_CODES,
  FlotillaError,
  isFlotillaError,
  isErrorCode,
  toFlotillaError,
  nonRetryable,
  serializeError,
  deserializeError,
} from './core/errors.js'
export type { ErrorCode, ErrorDetails, FlotillaErrorOptions, SerializedError } from './core/errors.js'
export { newRunId, newAgentId, asRunId, asTaskId, asAgentId } from './core/ids.js'
export type { Brand, RunId, TaskId, AgentId } from './core/ids.js'
export { systemClock } from './core/clock.js'
export type { Clock, TimerHandle } from './core/clock.js'
export { PRIORITIES, RUN_STATES, TASK_STATES, AGENT_STATES, isFinalRunState, isFinalTaskState } from './core/states.js'
export type { Priority, RunState, TaskState, AgentState } from './core/states.js'
export { isRunEvent } from './core/events.js'
export type {
  FlotillaEvent,
  FlotillaEventType,
  EventOf,
  EventBase,
  RunEvent,
  RunEventBase,
  TeamEvent,
  AgentStateEvent,
  AgentReportedEvent,
  AgentHealthEvent,
  AgentAnomalyEvent,
  AgentScaledEvent,
  PermissionDeniedEvent,
  Alert,
  AlertSeverity,
  AlertRaisedEvent,
  AlertResolvedEvent,
  RunWaitingEvent,
  RunProgress,
  RunStartedEvent,
  RunRecoveredEvent,
  RunPausedEvent,
  RunResumedEvent,
  RunSucceededEvent,
  RunFailedEvent,
  RunCancelledEvent,
  RunProgressEvent,
  TaskStartedEvent,
  TaskProgressEvent,
  TaskRetryingEvent,
  TaskSucceededEvent,
  TaskFailedEvent,
  TaskSkippedEvent,
  TaskCancelledEvent,
  TaskLogEvent,
  ModelCalledEvent,
  BudgetWarningEvent,
  ModelCallReport,
  ModelAnswerPart,
  TokenUsage,
} from './core/events.js'

export { DEFAULT_RETRY_POLICY, resolveRetryPolicy } from './resilience/retry.js'
export type { RetryPolicy, RetryOptions } from './resilience/retry.js'
export { CircuitBreaker } from './resilience/circuit-breaker.js'
export type { CircuitBreakerOptions, CircuitState } from './resilience/circuit-breaker.js'
export { createDeadline } from './resilience/deadline.js'
export type { Deadline } from './resilience/deadline.js'

export { openStore, openStoreAsync, parseStoreSpec, DEFAULT_STORE_PATH } from './store/open-store.js'
export type { OpenStoreOptions, ParsedStoreSpec } from './store/open-store.js'
export type { Store, RunStore, EventLog, AgentStore } from './store/store.js'
export type {
  RunRecord,
  GeneratedSummary,
  TaskRecord,
  StoredEvent,
  TailOptions,
  TailedEvent,
  TailPage,
  StoreOp,
  StoreBatch,
  RunFilter,
  AgentRecord,
  AgentTransition,
  AgentFilter,
} from './store/records.js'

export type {
  Bus,
  BusMessage,
  DeadLetter,
  SendOptions,
  ReceiveOptions,
  BusEvent,
  EventFilter,
  EventHandler,
  RequestHandler,
  Subscription,
  PublishOptions,
  RequestOptions,
  MessageHeaders,
  JsonPrimitive,
  WaitForMailOptions,
  BusOptions,
} from './messaging/bus.js'

export { PermissionSet, parsePermissions, inheritPermissions, globCovers } from './security/permissions.js'
export type { Permission } from './security/permissions.js'

export { ContextStore } from './context/context-store.js'
export type { ContextStoreOptions } from './context/context-store.js'
export { openContextStore } from './context/open-context-store.js'
export type { OpenContextStoreOptions } from './context/open-context-store.js'
export type {
  Artifact,
  ArtifactInfo,
  ArtifactEncoding,
  ArtifactWriteOptions,
  ArtifactLineage,
  PutArtifactOptions,
  GetArtifactOptions,
  ListArtifactsOptions,
  ShareOptions,
  SweepResult,
  PermissionsOf,
  ArtifactAccess,
  CacheAccess,
} from './context/types.js'
export type {
  ContextBackend,
  ArtifactHead,
  StoredRead,
  StoredHistory,
  VersionWrite,
  StoredCacheEntry,
  ContextStats,
} from './context/backend.js'

export { defineAgent, isAgentDefinition } from './agents/define-agent.js'
export type { AgentConfig, AgentDefinition, AnyAgentDefinition, Schema, MaybePromise } from './agents/define-agent.js'
export { decideScaling, resolveScaling } from './agents/scaling.js'
export type { ResolvedScaling, ScalingDecision, ScalingOptions, ScalingSignal } from './agents/scaling.js'
export { Autoscaler } from './orchestrator/autoscaler.js'
export type { AutoscalerOptions, ScaledInstance, ScalingTarget } from './orchestrator/autoscaler.js'
export type {
  AgentContext,
  AttemptTrace,
  AgentLogger,
  LogLevel,
  Workspace,
  ToolBox,
  AgentArtifacts,
  AgentCache,
  ArtifactView,
  ArtifactPutOptions,
  BroadcastTarget,
  ChildAgentRequest,
  ChildAgentRef,
} from './agents/context.js'
export { agentSpecSchema, resourceLimitsSchema, parseAgentSpec, loadAgentSpec } from './agents/spec.js'
export type { AgentSpec, AgentSpecInput, ParseAgentSpecOptions } from './agents/spec.js'
export { defineLlmAgent } from './agents/llm-agent.js'
export type { LlmAgentConfig, LlmBudgets, LlmOutput, ConfidentAnswer } from './agents/llm-agent.js'
export { defineAgentTemplate, isAgentTemplate } from './agents/agent-template.js'
export type {
  AgentTemplate,
  AgentTemplateConfig,
  AgentTemplateSettings,
  AgentTemplateInfo,
  TemplateOverrides,
} from './agents/agent-template.js'
export type { TemplateSpawnRequest } from './agents/context.js'
export { AgentTemplates } from './registry/agent-templates.js'
export type { ResolvedTemplate } from './registry/agent-templates.js'
export { childWorkflow, isChildPlan } from './workflows/child-plan.js'
export type { ChildPlan, ChildWorkflowOptions, PlannedAgent } from './workflows/child-plan.js'
export { definePlannerAgent, planSchema } from './workflows/planner.js'
export type { PlannerConfig, PlanAnswer } from './workflows/planner.js'
export type { ReflectionOptions, ExploreOptions } from './agents/llm-thinking.js'
export type { BudgetWarning, StoredTaskSpend, ModelAmounts, TreeBudgetHold } from './agents/context.js'
export { resolveModel, registerProvider, providerNames } from './models/providers.js'
export type { LanguageModel, ModelSpec, ModelEnv, ProviderFactory } from './models/providers.js'
export { DEFAULT_PRICES, PRICES_AS_OF, priceOf, costOf } from './models/pricing.js'
export type { ModelPrice } from './models/pricing.js'
export type { Budget } from './models/budget.js'
export type { ModelSpend } from './core/model-spend.js'
export type { ThinkingOptions } from './models/run-model.js'
export type { McpServer, McpStdioServer, McpHttpServer } from './models/mcp.js'
export { limitProvider } from './models/rate-limits.js'
export type { ProviderLimits } from './models/rate-limits.js'
export { defineTool, isToolDefinition } from './agents/tools.js'
export type { ToolConfig, ToolDefinition, AnyToolDefinition, ToolContext } from './agents/tools.js'
export type { AgentEvent } from './agents/agent-event.js'
export { AgentMetrics } from './agents/agent-metrics.js'
export type { AgentMetricsSnapshot } from './agents/agent-metrics.js'

export type {
  Runtime,
  RuntimeHandle,
  RuntimeHooks,
  DeployRequest,
  ResourceLimits,
  ResourceUsage,
  PodUsage,
  RuntimeExit,
  RuntimeEvent,
  ExecuteOptions,
} from './runtimes/runtime.js'
export type {
  AgentDeployment,
  DeployOptions,
  AgentInfo,
  AgentTreeNode,
  SupervisorEvent,
  AgentUsage,
  ClusterUsage,
  SupervisorOptions,
} from './runtimes/supervisor-types.js'
export type { TreeBudgetState, TreeBudgetMeasure } from './runtimes/tree-budget.js'

export { Registry } from './registry/registry.js'
export type { RegistryOptions, RegisterOptions } from './registry/registry.js'
export type { AgentInstance } from './registry/agent-instance.js'
export type { AgentInstanceState, AgentInstanceSnapshot, HealthReport } from './registry/agent-instance.js'
export type { AgentPool } from './registry/agent-pool.js'
export type { AgentSelector, AcquireResult } from './registry/agent-pool.js'
export { LOAD_BALANCING_STRATEGIES } from './registry/load-balancer.js'
export type { LoadBalancingStrategy } from './registry/load-balancer.js'
export type { AgentVersionMetrics } from './registry/version-metrics.js'
export { satisfies, maxSatisfying, checkRange } from './registry/semver-range.js'
export { resolveVersion } from './registry/discovery/versions.js'
export { discoverAgents, DEFAULT_AGENT_PATTERN } from './registry/discovery/discover-agents.js'
export type {
  DiscoverAgentsOptions,
  DiscoveryFailure,
  AgentDiscoveryReport,
} from './registry/discovery/discover-agents.js'
export { watchAgents } from './registry/discovery/hot-reload.js'
export type { AgentReloadEvent, WatchAgentsOptions, AgentWatcher } from './registry/discovery/hot-reload.js'
export { HealthMonitor } from './registry/health/health-monitor.js'
export type {
  HealthState,
  HealthStatus,
  HealthTransition,
  HealthMonitorOptions,
} from './registry/health/health-monitor.js'
export { AnomalyDetector } from './registry/health/anomaly.js'
export type { Anomaly, AnomalyBaseline, AgentBaseline, AnomalyDetectorOptions } from './registry/health/anomaly.js'
export { ExecutionHistory } from './registry/health/history.js'
export type { ExecutionRecord, ExecutionHistoryOptions } from './registry/health/history.js'
export { agentGraph } from './registry/health/agent-graph.js'
export type { AgentGraph, AgentGraphNode, AgentGraphEdge, GraphWorkflow } from './registry/health/agent-graph.js'

export { workflow, WorkflowBuilder, ref, inputRef } from './workflows/builder.js'
export type { TaskOptions } from './workflows/builder.js'
export { compileWorkflow } from './workflows/compile.js'
export type { Workflow, CompiledTask } from './workflows/compile.js'
export { workflowSpecSchema, taskSpecSchema, workflowJsonSchema } from './workflows/spec.js'
export type { WorkflowSpec, TaskSpec, InputSpec, RefSpec, SummarySpec } from './workflows/spec.js'
export { parseWorkflow, loadWorkflowFile } from './workflows/load.js'
export { discoverWorkflows, DEFAULT_WORKFLOW_PATTERN } from './workflows/discovery.js'
export type { DiscoverWorkflowsOptions, WorkflowDiscoveryReport } from './workflows/discovery.js'
export { RunResult } from './workflows/results.js'
export { tallyVotes } from './workflows/patterns/tally.js'
export type { ConsensusResult, ConsensusStrategy, TallyOptions, TieRule, Vote } from './workflows/patterns/tally.js'
export type {
  PatternSpec,
  PipelineSpec,
  PipelineStage,
  MapReduceSpec,
  ConsensusSpec,
} from './workflows/patterns/pattern-spec.js'
export type { TaskResult, RunSummary, AgentContribution } from './workflows/results.js'

export { Orchestrator } from './orchestrator/orchestrator.js'
export { Worker } from './orchestrator/worker.js'
export type { WorkerOptions } from './orchestrator/worker.js'
export { Client } from './orchestrator/client.js'
export { openBackend } from './orchestrator/backend.js'
export type { Backend, OpenBackendOptions } from './orchestrator/backend.js'
export type {
  Telemetry,
  Logger,
  Meter,
  Tracer,
  Span,
  SpanStatus,
  Counter,
  UpDownCounter,
  Histogram,
  ObservableGauge,
  ObservableResult,
  ObservableCallback,
  InstrumentOptions,
  TelemetryAttributes,
  SpanContext,
  SpanOptions,
  TraceContext,
} from './telemetry/telemetry.js'
export { parseTraceparent, traceContextOf, traceparentOf } from './telemetry/trace-context.js'
export { otlpTracing, otlpTracesEndpoint, type OtlpTracing } from './telemetry/otlp.js'
export { prometheusMeter, type PrometheusMeterOptions, type PrometheusMetrics } from './telemetry/prometheus.js'
export { AlertMonitor, type AlertMonitorOptions, type AlertSource } from './telemetry/alerts/monitor.js'
export type { AlertEvent } from './telemetry/alerts/evaluator.js'
export {
  parseAlertsConfig,
  loadAlertsFile,
  type AlertRule,
  type AlertRuleInput,
  type AlertRuleKind,
  type AlertsConfig,
  type AlertWebhookConfig,
} from './telemetry/alerts/config.js'
export {
  signAlertBody,
  verifyAlertSignature,
  ALERT_SIGNATURE_HEADER,
  ALERT_TIMESTAMP_HEADER,
  ALERT_DELIVERY_HEADER,
  type WebhookOutcome,
} from './telemetry/alerts/webhook.js'
export type { UnservedTask } from './orchestrator/client.js'
export type { Interceptor, Invocation, InvokeNext } from './workflows/invoker.js'
export type {
  TaskQueue,
  QueueOffer,
  QueueClaim,
  QueueSelector,
  QueueResult,
  QueueDone,
  QueueWaiting,
  HeartbeatReport,
  RunLease,
  WorkerRecord,
} from './store/queue.js'
export { validateWorkflowSpec } from './workflows/compile.js'
export type { WorkflowProblem } from './workflows/compile.js'
export { checkJsonValue, findJsonProblem, JSON_MAX_DEPTH } from './core/json-value.js'
export type { JsonProblem, JsonProblemKind, CheckJsonValueOptions } from './core/json-value.js'
export { permissionDenied, NO_GRANT } from './security/permissions.js'
export { Authorizer, resourceName } from './security/authorizer.js'
export type { Resource, Action, Principal, Decision, DecisionListener } from './security/authorizer.js'
export { pinPools } from './registry/agent-pool.js'
export type { ControlOptions, RunOptions, RunHandle } from './orchestrator/orchestrator.js'
export type { OrchestratorOptions } from './orchestrator/options.js'
export type { DeployedAgents, AgentDeployOptions } from './orchestrator/deployed-agents.js'
export type { ReplayOptions, TaskOverride } from './orchestrator/replay.js'
