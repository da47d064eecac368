/** The options of an {@link AgentRunner}: what it runs, the hooks it reports to, and one command's options. */
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { Permission } from '../security/permissions.js'
import type { AgentEvent } from './agent-event.js'
import type { Tracer } from '../telemetry/telemetry.js'

/** What a runner reports to, and asks of, whoever runs it (a runtime, the CLI). */
export interface RunnerHooks {
  /** Log lines, progress, denied permissions, tool calls. */
  onEvent(event: AgentEvent): void
  /** The services of the context (`ctx.send`, `ctx.artifacts`…): `op` and JSON `args`; rejects with a FlotillaError. */
  call(op: string, args: unknown): Promise<unknown>
}

/** Options of {@link AgentRunner.start}: a runtime's deploy request fits. */
export interface AgentRunnerOptions {
  /** The instance id (`agt_…`). */
  instanceId: string
  /** The agent's name in messages. @default the definition's name */
  name?: string
  /** Absolute path (or `file:` URL) of the module holding the agent (`''` with `model`). */
  module: string
  /** A language-model agent without a module: a spec's `model:` block, validated here. */
  model?: Readonly<Record<string, unknown>>
  /** The export holding the agent definition. @default "default" */
  exportName?: string
  /** Tool names the agent may call. @default [] */
  tools?: readonly string[]
  /** Module exporting the tools. @default the agent's module */
  toolsModule?: string
  /** The agent's permissions. @default none */
  permissions?: readonly Permission[]
  /** Limits; the runner enforces `storageMb` on the workspace (others are the runtime's). @default none */
  limits?: { readonly storageMb?: number }
  /** Absolute path of the workspace folder (created when missing). */
  workspace: string
  hooks: RunnerHooks
  /** Called when the agent goes over a limit the runner enforces (storage); the runtime should stop it. */
  onLimitExceeded?: (error: FlotillaError) => void
  /** Traces each command that carries a `traceparent` (a span `flotilla.agent.execute`, its child). @default none */
  tracer?: Tracer
}

/** Options of one {@link AgentRunner.execute}. */
export interface RunnerExecuteOptions {
  /** Aborts the command: `ctx.signal` fires and the command rejects with the reason (`TASK_CANCELLED` unless it is a FlotillaError). */
  readonly signal?: AbortSignal
  /** Rejects with `TASK_TIMEOUT` (and aborts `ctx.signal`) after this long. @default no limit */
  readonly timeoutMs?: number
  /** @default a new run id per command */
  readonly runId?: string
  /** @default `command-<n>` */
  readonly taskId?: string
  /** @default 1 */
  readonly attempt?: number
  /** The W3C `traceparent` of the caller's span (the task attempt): the command's span is its child, `ctx.trace` gives it on. */
  readonly traceparent?: string
}

/** The error a command is aborted with: the reason itself when a FlotillaError, else `TASK_CANCELLED`. */
export function abortError(reason: unknown): FlotillaError {
  if (isFlotillaError(reason)) return reason
  const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason)
  return new FlotillaError('TASK_CANCELLED', `The command was cancelled: ${why}.`, { details: { reason: why } })
}
