import type { ModelCallReport } from '../core/events.js'
import type { ModelSpend } from '../core/model-spend.js'
import type { AgentId, RunId, TaskId } from '../core/ids.js'
import type { BusMessage, EventFilter, EventHandler, MessageHeaders, Subscription } from '../messaging/bus.js'
import type { Permission } from '../security/permissions.js'
import type { Artifact, ArtifactInfo, ArtifactWriteOptions } from '../context/types.js'
import type { Span, SpanOptions } from '../telemetry/telemetry.js'

/** Log levels of {@link AgentLogger}. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** A logger bound to one task attempt; lines become `task.log` events. */
export interface AgentLogger {
  debug(message: string, data?: unknown): void
  info(message: string, data?: unknown): void
  warn(message: string, data?: unknown): void
  error(message: string, data?: unknown): void
}

/** The span of a traced task attempt, as its handler sees it. */
export interface AttemptTrace {
  /** The attempt span's W3C `traceparent`: pass it on to work done elsewhere (an HTTP call, another process). */
  readonly traceparent: string
  /** Starts a span, the child of the attempt's span (end it yourself). */
  startSpan(name: string, options?: SpanOptions): Span
}

/** What a handler receives beside its input. */
export interface AgentContext {
  /** The attempt's span, when the engine traces (a tracer was given); `undefined` otherwise. */
  readonly trace?: AttemptTrace
  /** Aborted when the attempt times out or the run is cancelled; pass it on to I/O. */
  readonly signal: AbortSignal
  /** The attempt number, starting at 1. */
  readonly attempt: number
  /** Stable across the attempts of one task in one run: use it to make side effects idempotent. */
  readonly idempotencyKey: string
  /** The run this attempt belongs to. */
  readonly runId: RunId
  /** The task of the workflow being executed. */
  readonly taskId: TaskId
  /** The agent instance executing it. */
  readonly instanceId: AgentId
  /**
   * True when the run is in debug mode: traces keep whole texts (model
   * answers, tool results) and the conversations sent to models. Absent: not.
   */
  readonly debug?: boolean
  /** Logs a line, delivered as a `task.log` event. */
  readonly log: AgentLogger
  /** Reports progress of this task: `fraction` in [0, 1], an optional note. */
  progress(fraction: number, note?: string): void
  /** The agent's workspace folder; file access is checked against `file:<path>` permissions and the storage quota. */
  readonly workspace: Workspace
  /** The agent's tools; each call is checked against `tool:<name>` `call` permission. */
  readonly tools: ToolBox
  /** Versioned shared artifacts, checked against `artifact:<id>` permissions. */
  readonly artifacts: AgentArtifacts
  /** The shared short-lived cache, checked against `cache:<key>` permissions. */
  readonly cache: AgentCache
  /** Puts a message in another agent's durable mailbox (`agent:<name>` `send`); returns its id. */
  send(to: string, body: unknown, options?: { headers?: MessageHeaders }): Promise<string>
  /** Consults a peer: sends a request and resolves with its reply, or fails with `TASK_TIMEOUT`. */
  request(to: string, body: unknown, options: { timeoutMs: number }): Promise<unknown>
  /** Publishes an event (`event:<type>` `publish`); returns its id. */
  publish(type: string, data: unknown): Promise<string>
  /**
   * Subscribes to events of `type` (`event:<type>` `subscribe`); unsubscribe
   * before returning: a subscription outlives the command that made it. A
   * deployed agent's subscriptions (either runtime) end when it is
   * terminated, fails or is restarted.
   */
  subscribe(type: string, filter: EventFilter | undefined, handler: EventHandler): Promise<Subscription>
  /** Leases messages from this agent's own mailbox; acknowledge each with {@link AgentContext.ack}. */
  receive(options?: { max?: number; visibilityTimeoutMs?: number }): Promise<BusMessage[]>
  /** Acknowledges a received message. */
  ack(messageId: string): Promise<boolean>
  /** Sends one message to each target: a list of agents, the agent's children (or whole subtree), or agents matching a filter. */
  broadcast(target: BroadcastTarget, body: unknown): Promise<string[]>
  /**
   * Deploys a child agent whose permissions and limits are carved out of
   * this agent's; or (`{ template, overrides }`, in a task an orchestrator
   * runs) makes an agent from a registered template, its permissions and
   * budget carved from this agent's, whose `execute` runs it as a child run
   * of this task.
   */
  spawn(spec: ChildAgentRequest | TemplateSpawnRequest): Promise<ChildAgentRef>
  /**
   * A durable step: runs `fn` once per task, across its attempts. Its value
   * (JSON) is kept in the task's journal under `name`; a later attempt of the
   * same task (a retry, or a takeover after a crash) gets the kept value
   * without running `fn` again. Use it for side effects that must not be
   * repeated (a payment, an e-mail, a model call). Without a context store
   * behind the agent, `fn` just runs.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<T>
  /** Reports a model call (language-model agents do): it becomes a `model.called` event of the run. */
  reportModelCall(report: ModelCallReport): void
  /** Reports a budget 80 % spent: it becomes a `budget.warning` event of the run. */
  reportBudgetWarning(warning: BudgetWarning): void
  /**
   * The model spend the run's task records hold, with the agent that ran
   * each task (read from the store now: what every worker stored so far).
   * Language-model agents seed their run budget from it. Absent, or
   * resolving to `undefined`, where the context has no store behind it.
   */
  storedModelSpend?(): Promise<StoredTaskSpend[] | undefined>
  /**
   * Holds a model call's worst case against the model budget of the agent's
   * tree (`budget.tree` of a deployed agent or of an ancestor):
   * `BUDGET_EXCEEDED` when any budget it draws on has not that much left.
   * Resolves to `undefined` when the agent is in no budgeted tree; absent
   * where the agent is not deployed by a supervisor. Language-model agents
   * call it before each model call and settle the hold after it.
   */
  holdTreeBudget?(worst: ModelAmounts): Promise<TreeBudgetHold | undefined>
}

/** Tokens and dollars of a model call. */
export interface ModelAmounts {
  readonly tokens: number
  readonly costUsd: number
}

/** A model call held against a tree budget ({@link AgentContext.holdTreeBudget}). */
export interface TreeBudgetHold {
  /** The call was made and used `used`: charged to every budget it drew on. */
  settle(used: ModelAmounts): Promise<void>
  /** The call failed and was not paid for: the hold is given back. */
  release(): Promise<void>
}

/** A task's stored model spend, as {@link AgentContext.storedModelSpend} gives it. */
export interface StoredTaskSpend {
  taskId: string
  /** The agent that ran its latest attempt (`name@version`). */
  agent: string | undefined
  model: ModelSpend
}

/** What {@link AgentContext.reportBudgetWarning} reports. */
export interface BudgetWarning {
  readonly agent: string
  readonly scope: string
  readonly measure: string
  readonly spent: number
  readonly limit: number
}

/** Who a broadcast reaches. */
export type BroadcastTarget =
  | { readonly agents: readonly string[] }
  | { readonly children: true; readonly subtree?: boolean }
  | { readonly match: { readonly role?: string; readonly capability?: string; readonly tag?: string } }

/** Files of an agent's workspace; paths are relative to its root and may not leave it. */
export interface Workspace {
  /** Absolute path of the workspace folder. */
  readonly root: string
  /** Reads a file (`read`). */
  read(path: string): Promise<Uint8Array>
  /** Reads a UTF-8 file (`read`). */
  readText(path: string): Promise<string>
  /** Writes a file, creating folders (`write`); fails with `RESOURCE_LIMIT_EXCEEDED` over the storage quota. */
  write(path: string, data: string | Uint8Array): Promise<void>
  /** Lists the files under a folder, relative to the root (`list` on the folder). */
  list(path?: string): Promise<string[]>
  /** Deletes a file (`delete`). */
  remove(path: string): Promise<void>
  /** Bytes held in the workspace. */
  usage(): Promise<number>
}

/** The tools an agent may call. */
export interface ToolBox {
  /** Names of the agent's tools. */
  readonly names: readonly string[]
  /** Calls a tool; `TOOL_NOT_FOUND` if the agent has no such tool, `PERMISSION_DENIED` without `tool:<name>` `call`. */
  call(name: string, input: unknown): Promise<unknown>
}

/** One stored version of an artifact, as an agent sees it: the context store's {@link Artifact}. */
export type ArtifactView = Artifact

/** Options of {@link AgentArtifacts.put}: the context store's {@link ArtifactWriteOptions}. */
export type ArtifactPutOptions = ArtifactWriteOptions

/** The artifacts an agent reaches through its context. */
export interface AgentArtifacts {
  /** The latest version (or `version`); `ARTIFACT_NOT_FOUND`, `ARTIFACT_EXPIRED` or `PERMISSION_DENIED` otherwise. */
  get(id: string, options?: { version?: number }): Promise<ArtifactView>
  /** Writes a new version; content is JSON, or bytes stored once by content hash. */
  put(id: string, content: unknown, options?: ArtifactPutOptions): Promise<ArtifactView>
  /** Every kept version, oldest first, without content. */
  history(id: string): Promise<ArtifactInfo[]>
  /** Latest versions of the artifacts the agent may read, optionally with a tag. */
  list(options?: { tag?: string }): Promise<ArtifactInfo[]>
  /** Deletes an artifact with all its versions; `false` if unknown. */
  delete(id: string): Promise<boolean>
}

/** The shared short-lived cache. */
export interface AgentCache {
  /** Stores a JSON value under `key` for `ttlMs`. */
  share(key: string, value: unknown, options: { ttlMs: number }): Promise<void>
  /** The value, or `undefined` when absent or expired. */
  get(key: string): Promise<unknown>
}

/** What an agent asks for when it spawns a child. */
export interface ChildAgentRequest {
  /** Name of the child. */
  readonly name: string
  /** Module (relative to the folder of the parent's module, or absolute) and export of the child's handler; defaults to the parent's module. */
  readonly module?: string
  readonly export?: string
  readonly tools?: readonly string[]
  /** A subset of the parent's permissions; omitted: the parent's. */
  readonly permissions?: readonly Permission[]
  /** Limits within the parent's; omitted: the parent's. */
  readonly limits?: { readonly memoryMb?: number; readonly cpuMs?: number; readonly storageMb?: number }
  readonly env?: Readonly<Record<string, string>>
  /**
   * `tree`: the model budget of the child and its subtree, carved out of
   * what the parent's tree budget has left (`BUDGET_EXCEEDED` when it has
   * not that much). Omitted: the child draws on its parent's.
   */
  readonly budget?: { readonly tree?: { readonly tokens?: number; readonly costUsd?: number; readonly calls?: number } }
}

/** What an agent asks for when it spawns an agent from a template (see `defineAgentTemplate`). */
export interface TemplateSpawnRequest {
  /** The template's name (a specialty); without such a template, `fallback` stands in for it. */
  readonly template: string
  /**
   * Settings that replace the template's (a `TemplateOverrides`: system
   * prompt, temperature, tools…), still carved from the spawner's; another
   * key is `AGENT_TEMPLATE_INVALID`.
   */
  readonly overrides?: object
  /** The spawned agent's name, before its hash suffix. @default the template's name */
  readonly name?: string
  /** A generic template (one with a `specialty` prompt) to fall back to for an unknown template. */
  readonly fallback?: string
}

/** A spawned child, as its parent sees it. */
export interface ChildAgentRef {
  readonly id: string
  readonly name: string
  /** Runs a command on the child and resolves with its output. */
  execute(input: unknown): Promise<unknown>
  /** Terminates the child and its subtree. */
  terminate(): Promise<void>
}
