/**
 * The `Runtime` port: where a deployed agent instance runs. Adapters:
 * `inprocess` (the handler runs in the orchestrator's process), `process`
 * (a child process running the agent runner, spoken to over a typed IPC
 * protocol); a `kubernetes` adapter (one pod per instance, commands over
 * HTTP) fits the same port. The shared contract suite in
 * `test/contract/runtime.contract.ts` pins the behaviour.
 *
 * A runtime knows nothing of lifecycle records, hierarchy or the store: the
 * supervisor decides, the runtime carries out. It reports what happens on
 * its side (an exit, a limit exceeded, a denied permission) through the
 * {@link RuntimeHooks} given at deploy.
 */
import type { ErrorCode, SerializedError } from '../core/errors.js'
import type { BusEvent } from '../messaging/bus.js'
import type { Permission } from '../security/permissions.js'

/**
 * Resource limits of one agent instance. Omitted fields are unlimited.
 * `memoryMb` caps the heap (the `process` runtime also enforces it on the
 * resident set); `cpuMs` caps the CPU time consumed since deploy;
 * `storageMb` caps the bytes held in the agent's workspace folder.
 */
export interface ResourceLimits {
  readonly memoryMb?: number
  readonly cpuMs?: number
  readonly storageMb?: number
}

/** A snapshot of what an instance uses. */
export interface ResourceUsage {
  /** Resident set size in bytes (the process, or the orchestrator's share for `inprocess`: 0 when unknown). */
  readonly memoryBytes: number
  /** V8 heap in use, bytes (0 when unknown). */
  readonly heapUsedBytes: number
  /** CPU time consumed since deploy, milliseconds (for `inprocess`: time spent in the handler). */
  readonly cpuMs: number
  /** Bytes held in the workspace folder. */
  readonly storageBytes: number
  /** Wall-clock milliseconds of the reading. */
  readonly at: number
  /**
   * The pod's usage as the cluster's metrics API reports it (the `kubernetes`
   * runtime, when the cluster has one); `memoryBytes` is then its working set.
   * Absent when unknown.
   */
  readonly pod?: PodUsage
}

/** The usage of an agent's pod from the cluster's metrics API (`metrics.k8s.io` PodMetrics). */
export interface PodUsage {
  /** CPU in use, cores, averaged over `windowMs`. */
  readonly cpuCores: number
  /** Memory working set, bytes. */
  readonly memoryBytes: number
  /** When metrics-server took the sample (wall-clock ms). */
  readonly at: number
  /** The window of the CPU average, ms. */
  readonly windowMs: number
}

/** Everything a runtime needs to start one instance; the supervisor has validated it. */
export interface DeployRequest {
  /** The instance id (`agt_…`), chosen by the supervisor. */
  readonly instanceId: string
  /** Agent name (from the spec). */
  readonly name: string
  /** Absolute path (or file URL) of the module holding the handler (`''` with `model`). */
  readonly module: string
  /** A language-model agent without a module: the spec's `model:` block (JSON). */
  readonly model?: Readonly<Record<string, unknown>>
  /** The export of that module: an agent definition made by `defineAgent`. @default "default" */
  readonly exportName: string
  /** Tool names the agent may call (each also needs a `tool:<name>` `call` permission). */
  readonly tools: readonly string[]
  /** Optional module exporting the tools (`defineTool`) by name; defaults to `module`. */
  readonly toolsModule?: string
  /** The effective permissions (already intersected with the parent's). */
  readonly permissions: readonly Permission[]
  /** The effective resource limits. */
  readonly limits: ResourceLimits
  /** Extra environment variables for the agent. */
  readonly env: Readonly<Record<string, string>>
  /** Absolute path of the agent's workspace folder (created by the runtime if missing). */
  readonly workspace: string
  /** The instance id of the parent agent, for a child (the `kubernetes` runtime makes the parent's pod its owner). */
  readonly parentId?: string
}

/** Why an instance stopped on its own (not by {@link RuntimeHandle.terminate}). */
export interface RuntimeExit {
  /** `AGENT_CRASHED`, `RESOURCE_LIMIT_EXCEEDED` or `IPC_PROTOCOL_ERROR`. */
  readonly code: ErrorCode
  /** A sentence a person can act on (exit code / signal, which limit, what was malformed). */
  readonly reason: string
  /** JSON-safe facts (exitCode, signal, limit, usage…). */
  readonly details: Readonly<Record<string, unknown>>
}

/** Something an agent reported from its side (log line, denied permission, progress…). */
export interface RuntimeEvent {
  /** `log`, `progress`, `permission.denied`, `tool.called` or `custom`. */
  readonly type: string
  readonly data: Readonly<Record<string, unknown>>
}

/** What an agent's context may ask of the world outside its runtime. */
export interface RuntimeHooks {
  /** The instance exited or was stopped on its own; called at most once. */
  onExit(exit: RuntimeExit): void
  /** Reports a log line, a denied permission and the like. */
  onEvent(event: RuntimeEvent): void
  /**
   * Services the agent's context calls (spawn a child, send a message, read
   * an artifact…): `op` names the service, `args` is JSON. The reply is JSON;
   * a failure is rejected with a FlotillaError and reaches the agent as one.
   */
  call(op: string, args: unknown): Promise<unknown>
}

/** Options of {@link RuntimeHandle.execute}. */
export interface ExecuteOptions {
  /** Aborts the command (the agent's `ctx.signal` fires). */
  readonly signal?: AbortSignal
  /** Fails with `TASK_TIMEOUT` after this long. */
  readonly timeoutMs?: number
  /** Correlation, passed to the agent's context (`ctx.runId`, `ctx.taskId`, `ctx.attempt`). */
  readonly runId?: string
  readonly taskId?: string
  readonly attempt?: number
  /** The W3C `traceparent` of the attempt's span (`ctx.trace`): the agent's spans are its children. */
  readonly traceparent?: string
}

/** One running instance, as a runtime holds it. */
export interface RuntimeHandle {
  /** The instance id of the deploy request. */
  readonly instanceId: string
  /** OS process id when there is one. */
  readonly pid: number | undefined
  /**
   * Runs the agent's handler on `input` and resolves with its output. The
   * handler's failure rejects with its FlotillaError (code kept across the
   * process boundary); a dead instance rejects with `AGENT_CRASHED`.
   */
  execute(input: unknown, options?: ExecuteOptions): Promise<unknown>
  /** Stops the instance from running (the `process` runtime stops the process with SIGSTOP). */
  pause(): Promise<void>
  /** Undoes {@link pause}. */
  resume(): Promise<void>
  /** Applies new limits; a runtime that must restart the instance to do so does it while idle. */
  scale(limits: ResourceLimits): Promise<void>
  /** What the instance uses now. */
  usage(): Promise<ResourceUsage>
  /** Stops the instance for good and releases what it holds. Idempotent; never rejects. */
  terminate(reason?: string): Promise<void>
  /**
   * Hands `event` to the handler the agent subscribed under `subscriptionId`
   * (the `subscribe` service op; `ctx.subscribe` in the agent). Never throws;
   * an event for an ended subscription or a stopped instance is dropped, and
   * a handler's failure goes to the agent's log. A runtime without it cannot
   * give its agents `ctx.subscribe`.
   */
  deliver?(subscriptionId: string, event: BusEvent): void
}

/** A place where agent instances run. */
export interface Runtime {
  /** Adapter name: `inprocess`, `process`… */
  readonly kind: string
  /**
   * Starts one instance and resolves once it is ready for commands (its
   * `initialize` hook done). A failure rejects with `AGENT_DEPLOY_FAILED`
   * (or `AGENT_SPEC_INVALID`) and leaves nothing running.
   */
  deploy(request: DeployRequest, hooks: RuntimeHooks): Promise<RuntimeHandle>
  /** Terminates every instance it started. */
  close(): Promise<void>
}

/** The JSON form of a failure crossing a runtime boundary. */
export type RuntimeError = SerializedError
