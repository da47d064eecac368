/**
 * Tools: named functions an agent calls through `ctx.tools.call(name, input)`,
 * each call checked against the agent's tool list and its `tool:<name>`
 * `call` permission, its input against the tool's schema.
 */
import { FlotillaError, toFlotillaError } from '../core/errors.js'
import type { PermissionSet } from '../security/permissions.js'
import { defaultAuthorizer, type Authorizer } from '../security/authorizer.js'
import { deniedEvent, type AgentEventSink } from './agent-event.js'
import type { ToolBox, Workspace } from './context.js'
import type { MaybePromise, Schema } from './define-agent.js'

/** What a tool's `run` receives beside its input. */
export interface ToolContext {
  /** The calling command's signal: aborted on timeout, cancel or stop. */
  readonly signal: AbortSignal
  /** The calling agent's workspace: file access by the tool is checked against the agent's permissions. */
  readonly workspace: Workspace
  /** Name of the calling agent. */
  readonly agent: string
  /** Instance id of the calling agent. */
  readonly instanceId: string
}

/** The configuration given to {@link defineTool}. */
export interface ToolConfig<I, O> {
  /** Unique name among the agent's tools: letters, digits, `.`, `_`, `-`. */
  name: string
  /** What the tool does (shown to models and in listings). */
  description?: string
  /** Schema of the input; a call whose input fails it is `VALIDATION_FAILED`. */
  input?: Schema<I>
  /** The tool itself. */
  run: (input: I, ctx: ToolContext) => MaybePromise<O>
}

/** A validated tool, as returned by {@link defineTool}. */
export interface ToolDefinition<I = unknown, O = unknown> {
  readonly kind: 'flotilla.tool'
  readonly name: string
  readonly description: string | undefined
  readonly input: Schema<I> | undefined
  readonly run: (input: I, ctx: ToolContext) => MaybePromise<O>
}

/** Any tool, whatever its types: its `run` is called with input already validated. */
export interface AnyToolDefinition extends Omit<ToolDefinition, 'run'> {
  readonly run: (input: never, ctx: ToolContext) => MaybePromise<unknown>
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

/**
 * Defines a tool. Export it (under whatever name, in a list, or as the default
 * export) from the agent's module or its spec's `toolsModule`, list its name
 * in the spec's `tools`, and grant `{ resource: "tool:<name>", actions: ["call"] }`.
 *
 * @example
 * ```ts
 * import { z } from 'zod'
 * export const wordCount = defineTool({
 *   name: 'word-count',
 *   input: z.object({ path: z.string() }),
 *   run: async ({ path }, ctx) => (await ctx.workspace.readText(path)).split(/\s+/).filter(Boolean).length,
 * })
 * ```
 */
export function defineTool<I = unknown, O = unknown>(config: ToolConfig<I, O>): ToolDefinition<I, O> {
  if (typeof config !== 'object' || config === null)
    throw new FlotillaError('VALIDATION_FAILED', 'defineTool needs a configuration object { name, run }.')
  const { name } = config
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `Tool name "${String(name)}" must be 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit.`,
      { details: { tool: String(name) } },
    )
  }
  if (typeof config.run !== 'function')
    throw new FlotillaError('VALIDATION_FAILED', `Tool "${name}": run must be a function (input, ctx) => output.`, {
      details: { tool: name },
    })
  const schema = config.input
  if (
    schema !== undefined &&
    (typeof schema !== 'object' ||
      schema === null ||
      typeof (schema as { safeParse?: unknown }).safeParse !== 'function')
  ) {
    throw new FlotillaError('VALIDATION_FAILED', `Tool "${name}": input must be a zod schema.`, {
      details: { tool: name },
    })
  }
  return Object.freeze({
    kind: 'flotilla.tool' as const,
    name,
    description: config.description,
    input: schema,
    run: config.run,
  })
}

/** True when `value` is a tool made by {@link defineTool} (from whichever copy of the package). */
export function isToolDefinition(value: unknown): value is AnyToolDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'flotilla.tool'
}

/**
 * The tools a module exports, by tool name: named exports, lists of tools,
 * and the default export (one tool or a list).
 */
export function collectTools(mod: Readonly<Record<string, unknown>>): Map<string, AnyToolDefinition> {
  const found = new Map<string, AnyToolDefinition>()
  const add = (value: unknown): void => {
    if (isToolDefinition(value)) found.set(value.name, value)
    else if (Array.isArray(value)) for (const v of value) if (isToolDefinition(v)) found.set(v.name, v)
  }
  for (const value of Object.values(mod)) add(value)
  return found
}

/** Options of {@link createToolBox}. */
export interface ToolBoxOptions {
  /** The agent's tools by name (each name of `names` is present). */
  tools: ReadonlyMap<string, AnyToolDefinition>
  /** The names the agent may call (its spec's `tools`). */
  names: readonly string[]
  permissions: PermissionSet
  agent: string
  instanceId: string
  workspace: Workspace
  /** The calling command's signal. */
  signal: AbortSignal
  /** Receives `permission.denied` and `tool.called` events. */
  onEvent: AgentEventSink
  /** Makes the permission decisions. @default the shared default authorizer */
  authorizer?: Authorizer
}

/**
 * The `ctx.tools` of one command. A call checks, in order: the tool is one
 * of the agent's (`TOOL_NOT_FOUND`), the agent holds `call` on `tool:<name>`
 * (`PERMISSION_DENIED`, and a `permission.denied` event), the input passes
 * the tool's schema (`VALIDATION_FAILED`); then it runs the tool and emits a
 * `tool.called` event with `durationMs` and `ok`. A tool's plain `Error`
 * becomes `TASK_FAILED`; a FlotillaError keeps its code.
 *
 * @example
 * ```ts
 * const tools = createToolBox({ tools, names: ['word-count'], permissions, agent: 'scanner', instanceId, workspace, signal, onEvent })
 * await tools.call('word-count', { path: 'a.txt' })
 * ```
 */
export function createToolBox(options: ToolBoxOptions): ToolBox {
  const allowed = new Set(options.names)
  const { agent, onEvent } = options
  const context: ToolContext = {
    signal: options.signal,
    workspace: options.workspace,
    agent,
    instanceId: options.instanceId,
  }
  return {
    names: options.names,
    async call(name, input) {
      const tool = allowed.has(name) ? options.tools.get(name) : undefined
      if (tool === undefined) {
        const list = options.names.length === 0 ? 'it has no tools' : `its tools: ${options.names.join(', ')}`
        throw new FlotillaError(
          'TOOL_NOT_FOUND',
          `${agent} has no tool "${String(name)}" (${list}). List the tool in the agent spec's "tools".`,
          { details: { agent, tool: String(name) } },
        )
      }
      ;(options.authorizer ?? defaultAuthorizer).authorize(
        { name: agent, permissions: options.permissions },
        { kind: 'tool', name },
        'call',
        (d) => onEvent(deniedEvent(agent, d.resource, d.action, d.reason)),
      )
      let value: unknown = input
      if (tool.input !== undefined) {
        const parsed = tool.input.safeParse(input)
        if (!parsed.success) {
          const issue = parsed.error.issues[0]
          const path = issue?.path.map(String).join('.') || '(root)'
          throw new FlotillaError(
            'VALIDATION_FAILED',
            `Input of tool "${name}" is invalid at "${path}": ${issue?.message ?? 'invalid'}.`,
            { details: { agent, tool: name, path } },
          )
        }
        value = parsed.data
      }
      const started = performance.now()
      try {
        const output = await tool.run(value as never, context)
        onEvent({ type: 'tool.called', data: { agent, tool: name, ok: true, durationMs: performance.now() - started } })
        return output
      } catch (e) {
        const error = toFlotillaError(e, 'TASK_FAILED')
        onEvent({
          type: 'tool.called',
          data: { agent, tool: name, ok: false, code: error.code, durationMs: performance.now() - started },
        })
        throw error
      }
    },
  }
}
